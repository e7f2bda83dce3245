"""Malformed reports mixed into ordinary traffic, through a real server and the real client, against SQLite and a
real PostgreSQL: each malformed report gets INVALID_ARGUMENT naming its field, no other caller's acknowledged decision
or report is missing afterwards, and ``semroute report`` totals are those of the valid reports alone.

Before issue 17, twelve such reports among ordinary traffic on PostgreSQL made 22 other callers' reports UNAVAILABLE,
4 NOT_FOUND, and lost 25 decisions already acknowledged to other clients.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from semroute.cli import main
from semroute.client import Attempt, AttemptOutcome, RouterClient, ServiceError
from semroute.embedding import FastEmbedEmbedder
from semroute.service import RouterServer, ServerConfig, create_server
from semroute.store import StoreSettings
from semroute.store._schema import decisions, outcomes
from tests.service.conftest import wait_until

CLIENTS = 8
CALLS = 2000  # route + report, in all, spread over the clients
GENEROUS_SECONDS = 30.0  # only a refusal may fail a call, not a busy test machine
GOOD = Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 640.0, 100, 20, 0.0001, passed_validators=("json",))
FULL_LABELS = {f"label-{n}": "x" for n in range(32)}  # as many as a decision may hold

Send = Callable[[RouterClient, str], None]


def outcome(**changes: Any) -> Send:
    """A report of one attempt, ``GOOD`` with ``changes``."""
    return lambda client, decision_id: client.report_outcome(
        decision_id, [dataclasses.replace(GOOD, **changes)], accepted=True, timeout=GENEROUS_SECONDS
    )


def labelled(labels: dict[str, str]) -> Send:
    return lambda client, decision_id: client.report_outcome(
        decision_id, [GOOD], accepted=True, labels=labels, timeout=GENEROUS_SECONDS
    )


def one_label_too_many(client: RouterClient, decision_id: str) -> None:
    """A label flood across reports: the decision holds its 32 labels (acknowledged, a valid report), then a quality
    score comes with one more."""
    client.report_outcome(
        decision_id, [GOOD], accepted=True, quality_score=2, labels=FULL_LABELS, timeout=GENEROUS_SECONDS
    )
    client.report_quality(decision_id, 5, labels={"one-more": "x"}, timeout=GENEROUS_SECONDS)


# (what is malformed, how it is sent, the field its INVALID_ARGUMENT names first)
MALFORMED: list[tuple[str, Send, str]] = [
    ("model of 1,000 characters", outcome(model="m" * 1000), "attempts[0].model"),
    ("NUL in a model", outcome(model="gpt-5-mini\x00"), "attempts[0].model"),
    ("validator of 65 characters", outcome(validator="v" * 65), "attempts[0].validator"),
    ("error class of 129 characters", outcome(error_class="E" * 129), "attempts[0].error_class"),
    ("NUL in a message", outcome(message="not JSON\x00"), "attempts[0].message"),
    ("infinite latency", outcome(latency_ms=math.inf), "attempts[0].latency_ms"),
    ("NaN latency", outcome(latency_ms=math.nan), "attempts[0].latency_ms"),
    ("cost of 1e308", outcome(cost_usd=1e308), "attempts[0].cost_usd"),
    ("NaN cost", outcome(cost_usd=math.nan), "attempts[0].cost_usd"),
    ("-inf cost", outcome(cost_usd=-math.inf), "attempts[0].cost_usd"),
    ("2**63 - 1 input tokens", outcome(input_tokens=2**63 - 1), "attempts[0].input_tokens"),
    ("negative output tokens", outcome(output_tokens=-5), "attempts[0].output_tokens"),
    ("33 attempts", lambda c, d: c.report_outcome(d, [GOOD] * 33, accepted=True), "attempts"),
    ("33 labels in one report", labelled({**FULL_LABELS, "one-more": "x"}), "labels"),
    ("label value of 300 characters", labelled({"team": "q" * 300}), "labels[team]"),
    ("NUL in a label value", labelled({"team": "qa\x00"}), "labels[team]"),
    ("label key with a space", labelled({"bad key": "x"}), "labels"),
    ("decision id of 1,000 characters", lambda c, d: c.report_quality("d" * 1000, 3), "decision_id"),
    ("NUL in a quality label", lambda c, d: c.report_quality(d, 3, labels={"team": "\x00"}), "labels[team]"),
    ("one label too many across reports", one_label_too_many, "labels"),
]


def normal_report(number: int) -> tuple[list[Attempt], bool, int | None]:
    """The attempts, acceptance and quality score the ``number``-th ordinary call reports: some escalate, some fall
    back, some fail, half are scored."""
    tokens = {"input_tokens": 50 + number % 97, "output_tokens": 10 + number % 31}
    cost = 0.00001 * (1 + number % 13)
    accepted = dataclasses.replace(GOOD, cost_usd=cost, **tokens)
    refused = Attempt("gpt-5-mini", AttemptOutcome.INVALID, 300.0, 40, 9, 0.00002, "json", "not JSON")
    failed = Attempt("claude-sonnet-4-6", AttemptOutcome.PROVIDER_ERROR, 90.0, message="429", error_class="RateLimit")
    attempts = [[accepted], [refused, accepted], [failed, accepted], [refused]][number % 4]
    return attempts, number % 4 != 3, (number % 5 + 1) if number % 2 == 0 else None


@dataclass
class Traffic:
    """What the clients were answered."""

    decisions: list[str] = field(default_factory=list)  # every decision issued (route answered OK)
    reported: dict[str, int] = field(default_factory=dict)  # decision id -> ordinary call number, acknowledged
    flooded: dict[str, int] = field(default_factory=dict)  # the label flood's decision -> its acknowledged score
    refusals: list[tuple[str, grpc.StatusCode, str]] = field(default_factory=list)  # malformed: what it was answered
    failures: list[str] = field(default_factory=list)  # ordinary calls that failed: there must be none
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_client(target: str, number: int, traffic: Traffic) -> None:
    """One client: its share of the ordinary calls, with its share of the malformed reports spread among them."""
    mine = range(number, CALLS, CLIENTS)
    malformed = {12 * (n // CLIENTS) + 5: MALFORMED[n] for n in range(number, len(MALFORMED), CLIENTS)}
    with RouterClient(target) as client:
        for turn, call in enumerate(mine):
            if turn in malformed:
                send_malformed(client, malformed[turn], traffic)
            try:
                decision = client.route(f"write unit tests for module {call} of the parser", timeout=GENEROUS_SECONDS)
                with traffic.lock:
                    traffic.decisions.append(decision.decision_id)
                attempts, accepted, score = normal_report(call)
                client.report_outcome(
                    decision.decision_id,
                    attempts,
                    accepted=accepted,
                    quality_score=score,
                    labels={"client": str(number)},
                    timeout=GENEROUS_SECONDS,
                )
                with traffic.lock:
                    traffic.reported[decision.decision_id] = call
            except ServiceError as error:
                with traffic.lock:
                    traffic.failures.append(f"call {call}: {error}")


def send_malformed(client: RouterClient, case: tuple[str, Send, str], traffic: Traffic) -> None:
    what, send, _ = case
    decision = client.route(f"a task whose report is malformed: {what}", timeout=GENEROUS_SECONDS)
    with traffic.lock:
        traffic.decisions.append(decision.decision_id)
    try:
        send(client, decision.decision_id)
    except ServiceError as error:
        with traffic.lock:
            traffic.refusals.append((what, error.code, error.details))
            if send is one_label_too_many:  # its first report was valid, and acknowledged
                traffic.flooded[decision.decision_id] = 2
        return
    with traffic.lock:
        traffic.refusals.append((what, grpc.StatusCode.OK, "accepted"))


@pytest.fixture
def server(
    store_url: str, tmp_path: Path, default_index_path: Path, embedder: FastEmbedEmbedder
) -> Iterator[tuple[RouterServer, str, Path]]:
    """A real server on loopback recording into this test's store; its target and the index it serves."""
    index_path = tmp_path / "index.zip"
    shutil.copyfile(default_index_path, index_path)
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        index_path=index_path,
        drain_seconds=0.0,
        grace_seconds=10.0,
        watch_seconds=0.0,
        store=StoreSettings(store_url),
    )
    running, port = create_server(config, embedder=embedder)
    running.start()
    running.load()
    yield running, f"127.0.0.1:{port}", index_path
    running.stop(0.0, 1.0)


def expected_totals(traffic: Traffic) -> dict[str, Any]:
    """The report's totals, from the valid reports alone."""
    reports = [normal_report(call) for call in traffic.reported.values()]
    reports += [([GOOD], True, score) for score in traffic.flooded.values()]
    attempts = [attempt for attempt_list, _, _ in reports for attempt in attempt_list]
    scores = [score for _, _, score in reports if score is not None]
    return {
        "requests": len(traffic.decisions),
        "completions": len(reports),
        "accepted": sum(1 for _, accepted, _ in reports if accepted),
        "quality_scores": len(scores),
        "mean_quality": pytest.approx(sum(scores) / len(scores)),
        "input_tokens": sum(attempt.input_tokens for attempt in attempts),
        "output_tokens": sum(attempt.output_tokens for attempt in attempts),
        "cost_usd": pytest.approx(sum(attempt.cost_usd for attempt in attempts), rel=1e-9),
        "validation_failures": {"json": sum(1 for a in attempts if a.outcome is AttemptOutcome.INVALID)},
    }


def test_malformed_reports_among_ordinary_traffic_harm_no_other_caller(
    server: tuple[RouterServer, str, Path], store_url: str
) -> None:
    running, target, index_path = server
    traffic = Traffic()
    clients = [threading.Thread(target=run_client, args=(target, n, traffic)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(900)

    assert traffic.failures == []
    assert len(traffic.reported) == CALLS
    by_case = {what: (code, details) for what, code, details in traffic.refusals}
    assert len(by_case) == len(MALFORMED)
    for what, _, field_name in MALFORMED:
        code, details = by_case[what]
        assert code is grpc.StatusCode.INVALID_ARGUMENT, (what, code, details)
        assert details.startswith(f"{field_name}: "), (what, details)

    store = running.store
    assert store is not None
    database = store.database
    wait_until(lambda: database.count("decisions") >= len(traffic.decisions), "every decision recorded")
    with database.engine.connect() as connection:
        stored = set(connection.execute(sa.select(decisions.c.decision_id)).scalars())
        rows = {row.decision_id: row for row in connection.execute(sa.select(outcomes))}
    assert set(traffic.decisions) - stored == set()  # no acknowledged decision is missing
    for decision_id, call in traffic.reported.items():  # nor any acknowledged report
        _, accepted, score = normal_report(call)
        row = rows[decision_id]
        assert (row.accepted, row.quality_score) == (accepted, score)
    for decision_id, score in traffic.flooded.items():
        assert (rows[decision_id].quality_score, len(rows[decision_id].labels)) == (score, 32)
    assert len(rows) == CALLS + len(traffic.flooded)  # and no malformed report left anything
    stats = store.stats()
    assert (stats.decisions_dropped, stats.store_errors) == (0, 0)  # every refusal came before the database

    result = CliRunner().invoke(
        main, ["report", "--store", store_url, "--index", str(index_path), "--format", "json", "--since", "1d"]
    )
    assert result.exit_code == 0, result.output
    total = json.loads(result.output)["total"]["current"]
    expected = expected_totals(traffic)
    assert {name: total[name] for name in expected} == expected
