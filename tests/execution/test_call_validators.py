"""The validators a ``complete()`` call adds: a ValidatorSpec, a kind's name, a mapping written like a route file's
validator, or custom checks to register; anything else is refused before any model is called (issue: validators
written like route files were silently taken for custom checks and never ran)."""

from __future__ import annotations

from typing import Any

import pytest

from semroute.client import RouterClient
from semroute.execution import CompletionError, Provider
from semroute.execution.request import split_validators
from semroute.types import AttemptOutcome, ValidatorSpec
from tests.execution.llm_server import Reply, ScriptedLLMServer

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # litellm's pydantic models, on first use

SUMMARY_TASK = "Summarize this article in three bullet points"  # summarization: no validators of its own
PRIMARY = "gemini-3-flash"
LONG_PROSE = "This answer is sixty-four characters long, and it is not JSON..."


def no_check(output: str) -> str | None:
    return None


def test_a_mapping_written_like_a_route_files_validator_is_a_validator() -> None:
    specs, checks = split_validators([{"kind": "max_chars", "limit": 5}, {"kind": "json"}])
    assert specs == (ValidatorSpec("max_chars", {"limit": 5}), ValidatorSpec("json")) and checks == {}
    assert split_validators({"kind": "regex", "pattern": "^-"}) == ((ValidatorSpec("regex", {"pattern": "^-"}),), {})


def test_a_bare_string_names_a_kind_without_parameters() -> None:
    assert split_validators(["json", "python_syntax"]) == ((ValidatorSpec("json"), ValidatorSpec("python_syntax")), {})
    assert split_validators("json") == ((ValidatorSpec("json"),), {})


def test_custom_checks_still_register_beside_specs() -> None:
    specs, checks = split_validators(["json", {"mine": no_check}, ValidatorSpec("custom", {"name": "mine"})])
    assert specs == (ValidatorSpec("json"), ValidatorSpec("custom", {"name": "mine"})) and checks == {"mine": no_check}


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        # the same checks `semroute check` applies to a route file's validators
        ([{"kind": "max_chars"}], ValueError, r"validators\[0\] \(max_chars\): limit: required"),
        ([{"kind": "max_chars", "limit": 0}], ValueError, r"validators\[0\] \(max_chars\): limit: required"),
        ([{"kind": "json", "limit": 5}], ValueError, r"validators\[0\] \(json\): unknown parameter limit"),
        (["jsn"], ValueError, r"validators\[0\]: unknown validator kind 'jsn'; the kinds are json, regex"),
        (["max_chars"], ValueError, r"validators\[0\] \(max_chars\): limit: required"),
        ([{"kind": 3}], TypeError, r"validators\[0\]\.kind: must be the name of a validator kind, not int"),
        # a mapping with no kind whose values are not checks: neither form
        ([{"limit": 5}], TypeError, r"validators\[0\]: \{'limit': 5\} is neither .*'limit' maps to 5, not a check"),
        ([{"Bad Name": no_check}], ValueError, r"validators\[0\]\['Bad Name'\]: a custom check's name must be"),
        ([42], TypeError, r"validators\[0\]: 42 \(int\) is not a validator; a validator is a ValidatorSpec"),
        ([None], TypeError, r"validators\[0\]: None \(NoneType\) is not a validator"),
        (42, TypeError, r"validators: 42 \(int\) is not a validator"),
    ],
)
def test_anything_else_is_an_error_naming_the_item_and_the_accepted_forms(
    given: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        split_validators(given)


def test_route_file_shaped_validators_judge_the_output(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply(LONG_PROSE))
    assert len(LONG_PROSE) == 64

    with pytest.raises(CompletionError) as raised:
        client.complete(
            SUMMARY_TASK, providers=providers, validators=[{"kind": "max_chars", "limit": 5}, {"kind": "json"}]
        )

    first = raised.value.attempts[0]
    assert (first.model, first.outcome, first.validator) == (PRIMARY, AttemptOutcome.INVALID, "max_chars")
    assert "64 characters, over the limit of 5" in first.message


def test_a_kinds_name_judges_the_output(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply(LONG_PROSE))
    with pytest.raises(CompletionError, match=r"invalid \(json: not JSON"):
        client.complete(SUMMARY_TASK, providers=providers, validators=["json"])

    llm.script(PRIMARY, Reply('{"points": ["a"]}'))
    completion = client.complete(SUMMARY_TASK, providers=providers, validators=["json"])
    assert completion.attempts[-1].passed_validators == ("json",)


def test_a_wrong_validator_fails_before_any_model_is_called(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    with pytest.raises(ValueError, match=r"validators\[1\] \(max_chars\): limit: required"):
        client.complete(SUMMARY_TASK, providers=providers, validators=["json", {"kind": "max_chars"}])
    with pytest.raises(TypeError, match=r"validators\[0\]: \{'limit': 5\} is neither"):
        client.complete(SUMMARY_TASK, providers=providers, validators=[{"limit": 5}])
    assert llm.received == []
