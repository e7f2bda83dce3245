"""Output validators: each kind judges outputs as documented and checks its parameters with a message that names
the parameter; route files carry them into decisions together with the cascade."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from semroute.decision import decide
from semroute.errors import ConfigError
from semroute.features import TextFeatures
from semroute.route_files import load_route_set
from semroute.types import Candidate, ValidatorSpec
from semroute.validators import VALIDATORS, UnknownCustomValidatorError, check_spec, judge
from semroute.wire import validator_from_proto, validator_to_proto
from tests.helpers import make_policy, simple_routes, write_routes

SCHEMA = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["bug", "feature"]}}}


@pytest.mark.parametrize(
    ("spec", "output", "verdict"),
    [
        (ValidatorSpec("json"), '{"a": 1}', None),
        (ValidatorSpec("json"), "{'a': 1}", "not JSON"),
        (ValidatorSpec("json", {"schema": SCHEMA}), '{"label": "bug"}', None),
        (ValidatorSpec("json", {"schema": SCHEMA}), '{"label": "question"}', "does not match the schema at label"),
        (ValidatorSpec("json", {"schema": SCHEMA}), "{}", "'label' is a required property"),
        (ValidatorSpec("regex", {"pattern": r"^LGTM|CHANGES REQUESTED"}), "CHANGES REQUESTED: fix", None),
        (ValidatorSpec("regex", {"pattern": r"\d+"}), "no digits", r"does not contain a match of /\d+/"),
        (ValidatorSpec("python_syntax"), "def f(x):\n    return x + 1\n", None),
        (ValidatorSpec("python_syntax"), "Here you go:\n```python\nprint('hi')\n```\nEnjoy.", None),
        (ValidatorSpec("python_syntax"), "```python\ndef f(:\n```", "not valid Python"),
        (ValidatorSpec("max_chars", {"limit": 5}), "12345", None),
        (ValidatorSpec("max_chars", {"limit": 5}), "123456", "6 characters, over the limit of 5"),
    ],
)
def test_each_kind_judges_outputs(spec: ValidatorSpec, output: str, verdict: str | None) -> None:
    check_spec(spec)
    result = judge(output, spec)

    assert result is None if verdict is None else (result is not None and verdict in result)


def test_a_custom_validator_is_the_callers_and_a_missing_one_is_named() -> None:
    spec = ValidatorSpec("custom", {"name": "has_ticket_id"})

    def has_ticket(output: str) -> str | None:
        return None if "JIRA-" in output else "no ticket id"

    assert judge("fixes JIRA-12", spec, {"has_ticket_id": has_ticket}) is None
    assert judge("fixes it", spec, {"has_ticket_id": has_ticket}) == "no ticket id"
    with pytest.raises(UnknownCustomValidatorError, match="'has_ticket_id'.*not registered"):
        judge("fixes it", spec, {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ValidatorSpec("yaml"), "unknown validator kind 'yaml'; the kinds are json, regex"),
        (ValidatorSpec("json", {"schema": {"type": "nonsense"}}), "schema: not a valid JSON Schema"),
        (ValidatorSpec("json", {"shema": {}}), "unknown parameter shema; it takes schema"),
        (ValidatorSpec("regex", {}), "pattern: required"),
        (ValidatorSpec("regex", {"pattern": "("}), "pattern: not a valid regular expression"),
        (ValidatorSpec("python_syntax", {"strict": True}), "unknown parameter strict; it takes none"),
        (ValidatorSpec("max_chars", {"limit": 0}), "limit: required, a whole number"),
        (ValidatorSpec("max_chars", {"limit": 2.5}), "limit: required, a whole number"),
        (ValidatorSpec("custom", {"name": "Bad Name"}), "name: required, 1-64 characters"),
    ],
)
def test_parameters_are_checked_naming_what_is_wrong(spec: ValidatorSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_spec(spec)


@pytest.mark.parametrize("kind", list(VALIDATORS))
def test_validators_round_trip_through_protobuf(kind: str) -> None:
    params: dict[str, Any] = {
        "json": {"schema": SCHEMA},
        "regex": {"pattern": "x+"},
        "python_syntax": {},
        "max_chars": {"limit": 4000},
        "custom": {"name": "checker"},
    }[kind]
    spec = ValidatorSpec(kind, params)

    assert validator_from_proto(validator_to_proto(spec)) == spec


def test_route_files_declare_a_cascade_and_validators_checked_like_every_field(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"] |= {"cascade": ["small", "big"], "validators": [{"kind": "max_chars", "limit": 600}]}
    route_set = load_route_set(write_routes(tmp_path / "good", routes))
    summary = route_set.route("summary")
    assert summary.cascade == ["small", "big"]
    assert [entry.to_spec() for entry in summary.validators] == [ValidatorSpec("max_chars", {"limit": 600})]

    routes["summary"] |= {"cascade": ["small", "gpt-9"]}
    with pytest.raises(ConfigError, match="field 'cascade': unknown model 'gpt-9'"):
        load_route_set(write_routes(tmp_path / "unknown-model", routes))
    routes["summary"] |= {"cascade": ["small", "small"], "validators": [{"kind": "regex"}]}
    with pytest.raises(ConfigError) as refused:
        load_route_set(write_routes(tmp_path / "bad-fields", routes))
    text = str(refused.value)
    assert "field 'cascade': model 'small' appears twice in the cascade" in text
    assert "field 'validators[0]': pattern: required" in text


def test_the_decision_carries_the_cascade_that_fits_and_the_validators() -> None:
    policy = make_policy()
    spec = ValidatorSpec("json")
    summary = dataclasses.replace(policy.routes["summary"], cascade=("local", "small", "big"), validators=(spec,))
    policy = dataclasses.replace(policy, routes={**policy.routes, "summary": summary})
    features = TextFeatures(estimated_tokens=50_000, file_paths=0, has_code_block=False)

    decision = decide([Candidate("summary", 0.9)], "a task", features, {}, policy)

    assert [model.name for model in decision.cascade] == ["small", "big"]  # local's 32k window is too small
    assert decision.validators == (spec,)
    assert any("local left out of the cascade" in step for step in decision.trace)
    forced = dataclasses.replace(
        policy, rules=make_policy([{"name": "pin", "when": {"route_in": ["summary"]}, "then": {"model": "big"}}]).rules
    )
    assert decide([Candidate("summary", 0.9)], "a task", features, {}, forced).cascade == ()
