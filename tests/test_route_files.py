"""Route folder validation: every error names its file, route and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from semroute.errors import ConfigError, RouteFileError
from semroute.route_files import load_route_set
from semroute.schema import DEFAULT_SCORE_THRESHOLD, FITTED_SETTINGS, Blend, FittedParameters, Settings
from tests.conftest import DEFAULT_ROUTES
from tests.helpers import ROUTER_YAML, simple_routes, write_routes


def problems_of(folder: Path) -> list[RouteFileError]:
    with pytest.raises(ConfigError) as caught:
        load_route_set(folder)
    error = caught.value
    return [error] if isinstance(error, RouteFileError) else list(error.problems)


def only_problem(folder: Path) -> RouteFileError:
    problems = problems_of(folder)
    assert len(problems) == 1, problems
    return problems[0]


def test_valid_folder_loads(tmp_path: Path) -> None:
    route_set = load_route_set(write_routes(tmp_path, simple_routes()))
    assert [route.name for route in route_set.routes] == ["general", "summary"]
    assert route_set.threshold(route_set.route("summary")) == 0.3


def test_bundled_routes_are_valid() -> None:
    route_set = load_route_set(Path(__file__).resolve().parent.parent / "routes")
    routable = [route for route in route_set.routes if not route.override_only]
    assert len(routable) >= 11
    assert all(len(route.utterances) >= 30 for route in routable)
    assert route_set.route("self_hosted").override_only


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    write_routes(tmp_path, simple_routes())
    (tmp_path / "summary.yaml").write_text("name: summary\nutterances: [unclosed\n")
    problem = only_problem(tmp_path)
    assert problem.file.endswith("summary.yaml")
    assert "malformed YAML at line" in str(problem)


def test_a_key_given_twice_is_an_error_not_the_last_one_winning(tmp_path: Path) -> None:
    """YAML lets a mapping repeat a key and PyYAML keeps the last: a route file with two `name:` lines, or two
    `choice:` blocks, passed `semroute check` with half of it silently dropped."""
    write_routes(tmp_path, simple_routes())
    text = (tmp_path / "summary.yaml").read_text()
    (tmp_path / "summary.yaml").write_text(text + "name: summary_two\n")
    problem = only_problem(tmp_path)
    assert problem.file.endswith("summary.yaml")
    assert "key 'name' given twice" in str(problem) and "line" in str(problem)


def test_a_route_file_ending_in_yml_is_an_error_not_ignored(tmp_path: Path) -> None:
    """`routes/foo.yml` was silently skipped: `semroute check` said ok without the route."""
    routes = simple_routes()
    write_routes(tmp_path, routes)
    (tmp_path / "summary.yaml").rename(tmp_path / "summary.yml")
    problems = str(pytest.raises(ConfigError, load_route_set, tmp_path).value)
    assert "summary.yml" in problems and "rename it to summary.yaml" in problems


def test_a_learned_choice_needs_a_chain_to_choose_from(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"].pop("fallbacks", None)
    routes["summary"].pop("cascade", None)
    routes["summary"]["choice"] = {"policy": "learned", "quality_target": 0.9}
    problem = only_problem(write_routes(tmp_path, routes))
    assert problem.route == "summary" and "has only" in str(problem) and "policy: static" in str(problem)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    write_routes(tmp_path, simple_routes())
    (tmp_path / "summary.yaml").write_text("- just\n- a list\n")
    assert "expected a mapping" in str(only_problem(tmp_path))


def test_duplicate_route_names(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary_copy"] = copy.deepcopy(routes["summary"])
    problem = only_problem(write_routes(tmp_path, routes))
    assert problem.route == "summary"
    assert "duplicate route name, also defined in" in str(problem)
    assert problem.file.endswith("summary_copy.yaml")


def test_empty_utterance_list(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["utterances"] = []
    problem = only_problem(write_routes(tmp_path, routes))
    assert (problem.route, problem.field) == ("summary", "utterances")
    assert "needs at least one utterance" in problem.message


def test_blank_utterance(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["utterances"].append("   ")
    problem = only_problem(write_routes(tmp_path, routes))
    assert (problem.route, problem.field) == ("summary", "utterances")
    assert "utterance #3 is empty" in problem.message


def test_duplicate_utterance_ignores_case_and_spacing(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["utterances"].append("Summarize   THIS article")
    problem = only_problem(write_routes(tmp_path, routes))
    assert "utterance #3 repeats #1" in str(problem)
    assert "summary.yaml" in str(problem) and "route 'summary'" in str(problem)


@pytest.mark.parametrize(("field", "value"), [("model", "gpt-9"), ("fallbacks", ["gpt-9"])])
def test_unknown_models(tmp_path: Path, field: str, value: Any) -> None:
    routes = simple_routes()
    routes["summary"][field] = value
    problem = only_problem(write_routes(tmp_path, routes))
    assert (problem.route, problem.field) == ("summary", field)
    assert "unknown model 'gpt-9'; the catalog in router.yaml has: big, small" in problem.message


def test_cyclic_fallback_chain(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["general"]["fallbacks"] = ["small", "big"]
    problem = only_problem(write_routes(tmp_path, routes))
    assert (problem.route, problem.field) == ("general", "fallbacks")
    assert "cyclic fallback chain, model 'big' appears twice" in problem.message


@pytest.mark.parametrize("value", [1.5, -2])
def test_route_threshold_out_of_range(tmp_path: Path, value: float) -> None:
    routes = simple_routes()
    routes["summary"]["score_threshold"] = value
    problem = only_problem(write_routes(tmp_path, routes))
    assert (problem.route, problem.field) == ("summary", "score_threshold")
    assert "less than or equal to 1" in problem.message or "greater than or equal to -1" in problem.message


def test_global_threshold_and_margin_out_of_range(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["settings"].update(score_threshold=3, margin=-0.1)
    problems = problems_of(write_routes(tmp_path, simple_routes(), router))
    assert {problem.field for problem in problems} == {"settings.score_threshold", "settings.margin"}
    assert all(problem.file.endswith("router.yaml") for problem in problems)


def test_unknown_keys_are_rejected_where_they_are(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["utterance"] = ["typo"]
    routes["summary"]["config"] = {"temprature": 0.2}
    problems = problems_of(write_routes(tmp_path, routes))
    assert {problem.field for problem in problems} == {"utterance", "config.temprature"}
    assert all("unknown key" in problem.message for problem in problems)


def test_unknown_setting_and_bad_enum(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["settings"].update(aggregation="median", top_kk=3)
    problems = problems_of(write_routes(tmp_path, simple_routes(), router))
    assert {problem.field for problem in problems} == {"settings.aggregation", "settings.top_kk"}


def test_default_route_must_exist(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["settings"]["default_route"] = "nowhere"
    problem = only_problem(write_routes(tmp_path, simple_routes(), router))
    assert (problem.field, problem.message) == ("settings.default_route", "unknown route 'nowhere'")


def test_rules_reference_known_routes_and_models(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["rules"] = [
        {"name": "a", "when": {"ambiguous_between": ["summary", "ghost"]}, "then": {"route": "phantom"}},
        {"name": "b", "when": {"text_matches": "x"}, "then": {"model": "gpt-9"}},
    ]
    problems = problems_of(write_routes(tmp_path, simple_routes(), router))
    assert {(problem.field, problem.message) for problem in problems} == {
        ("rules[0].then.route", "unknown route 'phantom'"),
        ("rules[0].when.ambiguous_between", "unknown route 'ghost'"),
        ("rules[1].then.model", "unknown model 'gpt-9'"),
    }


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({"name": "r", "when": {}, "then": {"route": "summary"}}, "rules[0].when", "at least one condition"),
        ({"name": "r", "when": {"has_code_block": True}, "then": {}}, "rules[0].then", "at least one action"),
        (
            {"name": "r", "when": {"text_matches": "(unclosed"}, "then": {"route": "summary"}},
            "rules[0].when.text_matches",
            "not a valid regular expression",
        ),
        (
            {"name": "r", "when": {"metadata": {"k": {"equals": "a", "in": ["b"]}}}, "then": {"route": "summary"}},
            "rules[0].when.metadata.k",
            "exactly one of `equals` or `in`",
        ),
        (
            {"name": "r", "when": {"file_paths": {}}, "then": {"route": "summary"}},
            "rules[0].when.file_paths",
            "at least one of gt, gte, lt, lte",
        ),
    ],
)
def test_malformed_rules(tmp_path: Path, rule: dict[str, Any], field: str, message: str) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["rules"] = [rule]
    problem = only_problem(write_routes(tmp_path, simple_routes(), router))
    assert problem.field == field
    assert message in problem.message


def test_duplicate_rule_names(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    rule = {"name": "same", "when": {"has_code_block": True}, "then": {"route": "summary"}}
    router["rules"] = [rule, rule]
    assert "duplicate rule name 'same'" in str(only_problem(write_routes(tmp_path, simple_routes(), router)))


def test_missing_router_file_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "router.yaml").unlink(missing_ok=True)
    problems = problems_of(tmp_path)
    messages = sorted(str(problem) for problem in problems)
    assert any("router.yaml: file not found" in message for message in messages)
    assert any("no route files" in message for message in messages)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="routes folder not found"):
        load_route_set(tmp_path / "absent")


def test_override_only_route_takes_no_utterances(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["override_only"] = True
    problem = only_problem(write_routes(tmp_path, routes))
    assert "override_only route is reached by rules only" in problem.message


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["model"] = "gpt-9"
    routes["general"]["utterances"] = []
    error_text = ""
    with pytest.raises(ConfigError) as caught:
        load_route_set(write_routes(tmp_path, routes))
    error_text = str(caught.value)
    assert error_text.startswith("2 problems in route files")


def test_fitted_parameters_apply_and_are_checked(tmp_path: Path) -> None:
    folder = write_routes(tmp_path, simple_routes())
    (folder / "fitted.yaml").write_text("score_threshold: 0.42\nmargin: 0.07\nroute_thresholds: {summary: 0.5}\n")
    route_set = load_route_set(folder)
    assert (route_set.settings.score_threshold, route_set.settings.margin) == (0.42, 0.07)
    assert route_set.threshold(route_set.route("summary")) == 0.5
    assert route_set.threshold(route_set.route("general")) == 0.42
    (folder / "fitted.yaml").write_text("route_thresholds: {ghost: 0.5}\n")
    problem = only_problem(folder)
    assert (problem.field, problem.message) == ("route_thresholds", "unknown route 'ghost'")


def test_a_folder_of_override_only_routes_is_refused(tmp_path: Path) -> None:
    routes = {"general": {"name": "general", "model": "big", "override_only": True}}
    assert "at least one route needs utterances" in str(only_problem(write_routes(tmp_path, routes)))


def test_an_unknown_blend_signal_is_named_with_the_known_ones(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["settings"]["blend"] = {"neighbour": 0.5, "lexical": 0.5}
    problem = only_problem(write_routes(tmp_path, simple_routes(), router=router))

    assert problem.field == "settings.blend"
    assert "unknown signal 'lexical'; the signals are neighbour, classifier, centroid" in problem.message


def test_one_threshold_default_for_every_route_folder(tmp_path: Path) -> None:
    router = copy.deepcopy(ROUTER_YAML)
    router["settings"].pop("score_threshold", None)
    route_set = load_route_set(write_routes(tmp_path, simple_routes(), router=router))

    assert route_set.settings.score_threshold == DEFAULT_SCORE_THRESHOLD == Settings().score_threshold == 0.3
    assert load_route_set(DEFAULT_ROUTES).settings.score_threshold != Settings().score_threshold  # fitted.yaml's


def test_fitted_parameters_replace_exactly_the_settings_they_share() -> None:
    fitted = FittedParameters(margin=0.07, blend=Blend({"neighbour": 1.0}), route_thresholds={"a": 0.5})
    applied = fitted.applied_to(Settings())

    assert FITTED_SETTINGS == ("score_threshold", "margin", "blend")
    assert (applied.margin, applied.blend.weights["neighbour"], applied.score_threshold) == (0.07, 1.0, 0.3)
    assert applied.model_dump(exclude=set(FITTED_SETTINGS)) == Settings().model_dump(exclude=set(FITTED_SETTINGS))
