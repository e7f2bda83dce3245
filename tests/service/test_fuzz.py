"""Property-based fuzz (hypothesis): no request and no route file makes semroute fail with anything but a clean refusal.

Requests go to the session server as raw bytes, so malformed messages reach it exactly as sent: every call ends with a
decision or INVALID_ARGUMENT (RESOURCE_EXHAUSTED for a message over the transport limit), never INTERNAL or UNKNOWN,
and the server still answers afterwards. Every write path into the outcome store (decisions from Route and RouteBatch,
outcomes with their attempts, quality scores, labels) is fuzzed field by field against a server storing task text in
SQLite and in a real PostgreSQL: each record is stored or refused with INVALID_ARGUMENT, and the store counts no
failed commit and no dropped decision. Route folders are mutated from a valid one: each loads or is refused with a
ConfigError naming a file.

``make test`` runs 2,000 request cases, 400 write cases per store and 300 route folders; ``make fuzz`` runs 10,000,
2,000 and 1,000 (``SEMROUTE_FUZZ_EXAMPLES`` sets the request cases, a fifth of it the write cases) and prints the
counts. Generation is derandomized, so every run draws the same cases and a failure reproduces; explicit examples keep
the inputs that once broke the loader.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
import sqlalchemy as sa
import yaml
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from semroute.client import RouterClient
from semroute.errors import ConfigError, RouteFileError
from semroute.limits import MAX_COST_USD, MAX_LABELS, MAX_LATENCY_MS, MAX_TOKENS
from semroute.route_files import FITTED_FILE, ROUTER_FILE, RouteSet, load_route_set
from semroute.store import OutcomeStore, StoreSettings, sqlite_url
from semroute.store._schema import attempts
from semroute.types import ServingStatus, StoreStats
from semroute.v1 import router_pb2 as pb
from semroute.wire import SERVICE_NAME
from tests.helpers import ROUTER_YAML, simple_routes
from tests.store.conftest import new_postgres_database, running_pgserver

from .conftest import RunningServer, wait_until
from .fuzz_cases import (
    CASE_MIX,
    INVALID,
    INVALID_UTF8,
    OK,
    REPORT_OUTCOME,
    REPORTS,
    ROUTE,
    ROUTE_BATCH,
    TASK_WORDS,
    VALID_KINDS,
    WRITE_VALID_KINDS,
    FuzzCase,
    write_case_mix,
)

FUZZ_EXAMPLES = int(os.environ.get("SEMROUTE_FUZZ_EXAMPLES", "2000"))
WRITE_FUZZ_EXAMPLES = FUZZ_EXAMPLES // 5  # per store: a report waits for its commit
DECISION_POOL = 32  # decisions the reports name
FLOODED_DECISIONS = 4  # decisions the label floods name
ROUTE_FILE_EXAMPLES = max(300, FUZZ_EXAMPLES // 10)  # each is a few milliseconds: no server involved
CALL_TIMEOUT_SECONDS = 10.0
MIN_VALID_SHARE = 1 / 3  # of the cases, valid requests that got a decision: the fuzz must drive the request path
EXAMPLES_SHOWN = 3  # unexpected outcomes listed per kind and status code

# Nothing to shrink in the request fuzz (its body records and never fails), and no example database: every run
# draws the same cases. Each kind of case sets its own max_examples.
REQUEST_FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],  # a shared 2-core CI machine is slow at times, not the strategies
)
ROUTE_FILE_FUZZ_SETTINGS = settings(
    max_examples=ROUTE_FILE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

RawMethod = Callable[..., bytes]  # a unary-unary method without serializers: bytes in, bytes out


@dataclasses.dataclass
class RequestTally:
    """What a fuzz saw: outcomes by status code and by kind, and the outcomes it did not expect."""

    name: str = "request fuzz"
    codes: Counter[str] = dataclasses.field(default_factory=Counter)
    by_kind: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    valid_answered: int = 0
    surprises: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    examples: list[str] = dataclasses.field(default_factory=list)

    @property
    def total(self) -> int:
        """Calls made."""
        return sum(self.codes.values())

    @property
    def valid_share(self) -> float:
        """The share of all calls that were valid requests and got a decision."""
        return self.valid_answered / max(self.total, 1)

    def record(self, case: FuzzCase, code: grpc.StatusCode, outcome: str) -> None:
        """Count one call; ``outcome`` is the status code's name, or says what was wrong with an OK answer."""
        self.codes[code.name] += 1
        self.by_kind[case.kind, outcome] += 1
        decided = outcome == grpc.StatusCode.OK.name
        if decided and case.valid:
            self.valid_answered += 1
        if code in case.expected and (decided or code is not grpc.StatusCode.OK):
            return
        self.surprises[case.kind, outcome] += 1
        if self.surprises[case.kind, outcome] <= EXAMPLES_SHOWN:
            payload = case.payload[:48].hex() + ("..." if len(case.payload) > 48 else "")
            self.examples.append(f"  {case.kind} -> {outcome} ({case.method}, {len(case.payload)} bytes: {payload})")

    def summary(self) -> str:
        """Counts by status code and by kind, and the valid share."""
        codes = ", ".join(f"{name} {count}" for name, count in self.codes.most_common())
        kinds = "\n".join(
            f"  {kind:<24} {outcome:<20} {count}" for (kind, outcome), count in sorted(self.by_kind.items())
        )
        return (
            f"{self.name}: {self.total} calls; by status: {codes}; valid requests answered: "
            f"{self.valid_answered} ({self.valid_share:.1%})\nby kind:\n{kinds}"
        )

    def unexpected(self) -> str:
        """The unexpected outcomes by kind, with a few example payloads."""
        counts = ", ".join(f"{kind} -> {outcome}: {count}" for (kind, outcome), count in sorted(self.surprises.items()))
        return f"unexpected outcomes: {counts}\n" + "\n".join(self.examples)


def send(calls: dict[str, RawMethod], case: FuzzCase) -> tuple[grpc.StatusCode, str]:
    """Make one call; return its status code and the outcome to count (the code's name, or what an OK answer lacks)."""
    try:
        response = calls[case.method](case.payload, timeout=CALL_TIMEOUT_SECONDS, metadata=case.metadata or None)
    except grpc.RpcError as error:
        code = cast(grpc.Call, error).code()  # the error of a unary call is also its Call
        return code, code.name
    if case.method in REPORTS:
        return grpc.StatusCode.OK, grpc.StatusCode.OK.name  # the answer of a report is empty
    return grpc.StatusCode.OK, decision_problem(case, response) or grpc.StatusCode.OK.name


def decision_problem(case: FuzzCase, response: bytes) -> str | None:
    """What is wrong with an OK answer, or None when it holds one complete decision per task."""
    try:
        if case.method == ROUTE:
            decisions = [pb.RouteResponse.FromString(response).decision]
        else:
            decisions = list(pb.RouteBatchResponse.FromString(response).decisions)
    except DecodeError:
        return "OK_UNREADABLE"
    if not decisions or (case.tasks and len(decisions) != case.tasks):
        return "OK_WRONG_COUNT"
    if not all(decision.route and decision.model.name for decision in decisions):
        return "OK_NO_DECISION"
    return None


def examples_of(percent: float, total: int = FUZZ_EXAMPLES) -> int:
    """How many calls a kind with this share of the mix gets (rounded up: the total is at least ``total``)."""
    return math.ceil(total * percent / 100)


@pytest.mark.parametrize(
    ("mix", "valid_kinds"),
    [(CASE_MIX, VALID_KINDS), (write_case_mix(st.just("d"), st.just("f")), WRITE_VALID_KINDS)],
    ids=["requests", "writes"],
)
def test_case_mix_adds_up_and_is_over_a_third_valid(
    mix: dict[str, tuple[float, Any]], valid_kinds: tuple[str, ...]
) -> None:
    shares = {kind: percent for kind, (percent, _) in mix.items()}
    valid = sum(shares[kind] for kind in valid_kinds)

    assert sum(shares.values()) == 100
    assert valid / 100 > MIN_VALID_SHARE


def test_every_fuzzed_request_gets_a_decision_or_a_clean_refusal(target: str, client: RouterClient) -> None:
    tally = RequestTally()
    started = time.perf_counter()
    with grpc.insecure_channel(target) as channel:
        # No serializers: requests and answers stay bytes, so malformed messages reach the server as drawn.
        calls: dict[str, RawMethod] = {
            method: channel.unary_unary(f"/{SERVICE_NAME}/{method}") for method in (ROUTE, ROUTE_BATCH)
        }
        for percent, cases in CASE_MIX.values():

            @settings(REQUEST_FUZZ_SETTINGS, max_examples=examples_of(percent))
            @given(cases)
            def call_once(case: FuzzCase) -> None:
                tally.record(case, *send(calls, case))

            call_once()
    print(f"\n{tally.summary()}\nin {time.perf_counter() - started:.1f} s")

    assert client.route("write unit tests for the parser").route, "the server stopped routing"
    assert client.health() is ServingStatus.SERVING
    assert tally.total >= FUZZ_EXAMPLES
    assert tally.codes["INTERNAL"] == tally.codes["UNKNOWN"] == 0, tally.unexpected()
    assert not tally.surprises, tally.unexpected()
    assert tally.valid_share >= MIN_VALID_SHARE, tally.summary()


# --- the write paths --------------------------------------------------------------------------------------------


class LabelLedger:
    """Each decision's label keys as the store holds them, from the reports it acknowledged: which report carrying
    valid labels the per-decision limit must refuse."""

    def __init__(self) -> None:
        self.keys: dict[str, set[str]] = {}
        self.reports = 0  # acknowledged

    def expecting(self, case: FuzzCase) -> FuzzCase:
        """The case with what it must get: a valid report that adds labels past the limit gets INVALID_ARGUMENT."""
        if case.method not in REPORTS or case.expected != OK:
            return case
        decision_id, added = self._labels_of(case)
        stored = self.keys.get(decision_id, set())
        if added - stored and len(stored | added) > MAX_LABELS:
            return dataclasses.replace(case, expected=INVALID)
        return case

    def acknowledged(self, case: FuzzCase) -> None:
        """Note a report the server acknowledged."""
        decision_id, added = self._labels_of(case)
        self.keys.setdefault(decision_id, set()).update(added)
        self.reports += 1

    @staticmethod
    def _labels_of(case: FuzzCase) -> tuple[str, set[str]]:
        message_type = pb.ReportOutcomeRequest if case.method == REPORT_OUTCOME else pb.ReportQualityRequest
        message: Any = message_type.FromString(case.payload)
        return message.decision_id, set(message.labels)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    """A PostgreSQL for the write fuzz (pgserver)."""
    with running_pgserver() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def storing_text(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    """An empty outcome store that keeps task text: an SQLite file, or a database on a real PostgreSQL."""
    if request.param == "sqlite":
        return StoreSettings(sqlite_url(tmp_path / "outcomes.db"), store_text=True)
    return StoreSettings(new_postgres_database(request.getfixturevalue("postgres")), store_text=True)


FIGURES = (attempts.c.latency_ms, attempts.c.cost_usd, attempts.c.input_tokens, attempts.c.output_tokens)
FIGURE_BOUNDS = (MAX_LATENCY_MS, MAX_COST_USD, MAX_TOKENS, MAX_TOKENS)


def stored_figures(store: OutcomeStore) -> tuple[float, ...]:
    """The smallest, then the largest, of each figure (:data:`FIGURES`) over every stored attempt."""
    query = sa.select(*(sa.func.min(column) for column in FIGURES), *(sa.func.max(column) for column in FIGURES))
    with store.database.engine.connect() as connection:
        return tuple(connection.execute(query).one())


def settled(stats: StoreStats) -> int:
    """Decisions the writer is done with."""
    return stats.decisions_recorded + stats.decisions_dropped


def test_every_fuzzed_write_is_stored_or_refused_and_never_fails_a_batch(
    storing_text: StoreSettings, start_server: Callable[..., RunningServer]
) -> None:
    running = start_server(store=storing_text)
    store = running.server.store
    assert store is not None
    tally, ledger, issued = RequestTally(f"write fuzz ({store.database.engine.dialect.name})"), LabelLedger(), 0
    started = time.perf_counter()
    with RouterClient(running.target) as client, grpc.insecure_channel(running.target) as channel:
        tasks = [
            f"{TASK_WORDS[number % len(TASK_WORDS)]} {number}" for number in range(DECISION_POOL + FLOODED_DECISIONS)
        ]
        pool = [decision.decision_id for decision in client.route_batch(tasks)]
        issued += len(pool)
        calls: dict[str, RawMethod] = {
            method: channel.unary_unary(f"/{SERVICE_NAME}/{method}") for method in (ROUTE, ROUTE_BATCH, *REPORTS)
        }
        mix = write_case_mix(st.sampled_from(pool[:DECISION_POOL]), st.sampled_from(pool[DECISION_POOL:]))
        for percent, cases in mix.values():

            @settings(REQUEST_FUZZ_SETTINGS, max_examples=examples_of(percent, WRITE_FUZZ_EXAMPLES))
            @given(cases)
            def call_once(drawn: FuzzCase) -> None:
                nonlocal issued
                case = ledger.expecting(drawn)
                code, outcome = send(calls, case)
                tally.record(case, code, outcome)
                if code is grpc.StatusCode.OK and case.method in REPORTS:
                    ledger.acknowledged(case)
                elif code is grpc.StatusCode.OK:
                    issued += case.tasks

            call_once()
        print(f"\n{tally.summary()}\nin {time.perf_counter() - started:.1f} s")

        assert tally.codes["INTERNAL"] == tally.codes["UNKNOWN"] == 0, tally.unexpected()
        assert not tally.surprises, tally.unexpected()
        assert tally.valid_share >= MIN_VALID_SHARE, tally.summary()
        wait_until(lambda: settled(client.stats()) >= issued, f"{issued} decisions recorded or dropped")
        stats = client.stats()
    assert (stats.store_errors, stats.decisions_dropped) == (0, 0)
    assert (stats.decisions_recorded, stats.outcomes_recorded) == (issued, ledger.reports)
    for decision_id, keys in ledger.keys.items():
        outcome = store.database.outcome(decision_id)
        assert outcome is not None and set(outcome["labels"]) == keys, decision_id
    figures = stored_figures(store)
    assert all(lowest >= 0 for lowest in figures[:4])
    assert all(highest <= bound for highest, bound in zip(figures[4:], FIGURE_BOUNDS, strict=True))


# --- route files --------------------------------------------------------------------------------------------------

PRIVATE_RULE: dict[str, Any] = {
    "name": "private",
    "when": {"metadata": {"data_sensitivity": {"in": ["restricted"]}}, "text_matches": "secret|password"},
    "then": {"route": "summary", "model": "small", "config": {"temperature": 0.1}},
    "final": True,
}
# A valid folder touching every file kind and most keys; each example mutates a copy of it.
VALID_ROUTE_FOLDER: dict[str, Any] = {
    ROUTER_FILE: {**ROUTER_YAML, "rules": [PRIVATE_RULE]},
    **{f"{stem}.yaml": route for stem, route in simple_routes().items()},
    FITTED_FILE: {"score_threshold": 0.35, "margin": 0.03, "route_thresholds": {"summary": 0.4}},
}
# Values a careless edit or a bad generator could leave behind: names of the wrong kind, hostile regexes, numbers
# as text, blanks.
ODD_STRINGS = (
    "",
    " ",
    "\n",
    "general",
    "summary",
    "big",
    "small",
    "frontier",
    "max",
    "Not_A_Name",
    "a{99999999999}",
    "(",
    "[z-a]",
    "(?P<x>",
    "1e999",
    "-1",
    "nan",
    "2024-01-01",
    "ßüñ 🚀",
)
# Text that YAML itself rejects or reads as something unexpected.
YAML_GARBAGE = (
    "{",
    "key: [1, 2",
    "\t- tab",
    "a: b: c",
    "- - -",
    "&anchor [*anchor, *anchor]",
    "*undefined",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGVsbG8=",
    "%YAML 9.9\n---\n",
    "---\na: 1\n---\nb: 2\n",
    "? [complex, key]\n: value",
    "name: general\nname: general\n",
    "\ufeffname: general",
    "\x00",
    "...",
    "~",
    "[]",
    "''",
)
odd_strings = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=16),
    st.integers(0, 2**40).map(lambda count: f"x{{{count}}}"),  # Python's re refuses counts over 2**32 - 1
)
odd_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), odd_strings)
odd_values = st.recursive(
    odd_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
route_file_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).map(lambda stem: f"{stem}.yaml")

Path_ = tuple[Any, ...]  # a path into a parsed YAML document: dict keys and list positions


def document_paths(value: Any, path: Path_ = ()) -> list[Path_]:
    """Every path into a document, to nested values at any depth."""
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        return []
    return [found for key, child in children for found in [(*path, key), *document_paths(child, (*path, key))]]


def value_at(document: Any, path: Path_) -> Any:
    """The value at ``path`` (the document itself for the empty path)."""
    for key in path:
        document = document[key]
    return document


def parent_of(document: Any, path: Path_) -> Any:
    """The dict or list holding the value at ``path``."""
    return value_at(document, path[:-1])


def _drop_value(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    if paths := document_paths(files[name]):
        path = draw(st.sampled_from(paths))
        del parent_of(files[name], path)[path[-1]]


def _replace_value(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    paths = document_paths(files[name])
    path = draw(st.sampled_from([(), *paths]))
    if path:
        parent_of(files[name], path)[path[-1]] = draw(odd_values)
    else:
        files[name] = draw(odd_values)


def _replace_text(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    document = files[name]
    if paths := [path for path in document_paths(document) if isinstance(value_at(document, path), str)]:
        path = draw(st.sampled_from(paths))
        parent_of(document, path)[path[-1]] = draw(odd_strings)


def _rename_key(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    document = files[name]
    if paths := [path for path in document_paths(document) if isinstance(parent_of(document, path), dict)]:
        path = draw(st.sampled_from(paths))
        parent = parent_of(document, path)
        parent[draw(odd_strings)] = parent.pop(path[-1])


def _add_key(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    document = files[name]
    paths = [path for path in [(), *document_paths(document)] if isinstance(value_at(document, path), dict)]
    if paths:
        value_at(document, draw(st.sampled_from(paths)))[draw(st.text(max_size=12))] = draw(odd_values)


def _drop_file(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    del files[name]


def _copy_file(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    files[draw(route_file_names)] = copy.deepcopy(files[name])  # a route copied: the same name defined twice


def _add_file(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    files[draw(route_file_names)] = draw(odd_values)


def _raw_file(draw: st.DrawFn, files: dict[str, Any], name: str) -> None:
    dumped = dump_yaml(files[name])
    files[name] = draw(
        st.one_of(
            st.binary(max_size=120),
            st.builds(lambda text, bad: text.encode() + bad, st.text(max_size=40), st.sampled_from(INVALID_UTF8)),
            st.builds(
                lambda cut, bad: dumped[:cut] + bad + dumped[cut:],
                st.integers(0, len(dumped)),
                st.sampled_from(INVALID_UTF8),
            ),
            st.sampled_from(YAML_GARBAGE).map(str.encode),
            st.text(max_size=80).map(str.encode),
            st.integers(0, len(dumped)).map(lambda cut: dumped[:cut]),  # a file cut short
            st.integers(1, 4000).map(lambda depth: b"- " * depth + b"x"),  # nested deeper than Python recursion goes
        )
    )


MUTATIONS = (
    _drop_value,
    _replace_value,
    _replace_text,
    _rename_key,
    _add_key,
    _drop_file,
    _copy_file,
    _add_file,
    _raw_file,
)


def dump_yaml(document: Any) -> bytes:
    """A parsed document back as YAML; raw file contents stay as they are."""
    if isinstance(document, bytes):
        return document
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()


@st.composite
def route_folders(draw: st.DrawFn) -> dict[str, bytes]:
    """The valid folder after up to three mutations: file name -> content."""
    files = copy.deepcopy(VALID_ROUTE_FOLDER)
    for _ in range(draw(st.integers(0, 3))):
        if files:
            mutate = draw(st.sampled_from(MUTATIONS))
            mutate(draw, files, draw(st.sampled_from(sorted(files))))
    return {name: dump_yaml(document) for name, document in files.items()}


def folder_with(replacements: dict[str, Any]) -> dict[str, bytes]:
    """The valid folder with some files replaced by other documents or raw bytes."""
    return {name: dump_yaml(document) for name, document in {**VALID_ROUTE_FOLDER, **replacements}.items()}


def router_with_text_matches(pattern: str) -> dict[str, Any]:
    """``router.yaml`` whose rule searches the task text for ``pattern``."""
    rule = {**PRIVATE_RULE, "when": {**PRIVATE_RULE["when"], "text_matches": pattern}}
    return {**VALID_ROUTE_FOLDER[ROUTER_FILE], "rules": [rule]}


def problem_files(error: ConfigError) -> list[str]:
    """The file each problem of a refusal names."""
    problems = error.problems or ((error,) if isinstance(error, RouteFileError) else ())
    return [problem.file for problem in problems]


def test_mutated_route_folders_load_or_are_refused_naming_the_file() -> None:
    outcomes: Counter[str] = Counter()

    @ROUTE_FILE_FUZZ_SETTINGS
    @given(route_folders())
    @example(folder_with({}))
    @example(folder_with({FITTED_FILE: b"\x80"}))  # not UTF-8
    @example(folder_with({"summary.yaml": b"- " * 4000 + b"x"}))  # deeper than the YAML parser's recursion
    @example(folder_with({ROUTER_FILE: router_with_text_matches("x{99999999999}")}))  # a count re cannot hold
    def load_once(files: dict[str, bytes]) -> None:
        with tempfile.TemporaryDirectory() as directory:
            folder = Path(directory)
            for name, content in files.items():
                (folder / name).write_bytes(content)
            try:
                loaded = load_route_set(folder)
            except ConfigError as error:
                named = problem_files(error)
                assert named, f"a refusal naming no file: {error}"
                assert all(Path(file) == folder or Path(file).parent == folder for file in named), str(error)
                assert all(file in str(error) for file in named), str(error)
                outcomes["refused"] += 1
            else:
                assert isinstance(loaded, RouteSet)
                outcomes["loaded"] += 1

    load_once()
    loaded, refused = outcomes["loaded"], outcomes["refused"]
    print(f"\nroute file fuzz: {loaded + refused} folders; {loaded} loaded, {refused} refused")

    assert loaded and refused, "the mutations should both keep and break some folders"
