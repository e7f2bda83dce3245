"""Micro-batching of concurrent Route calls on real servers: calls waiting together share an embedding pass, grouped by
length, each gets the answer it would get alone, and a call that leaves (deadline, cancel) harms nobody."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import pytest

from semroute.client import RemoteDecision, RouterClient, ServiceError
from semroute.embedding import FastEmbedEmbedder, ModelIdentity, length_batches
from semroute.router import Router
from semroute.service._admission import length_group
from semroute.types import RouteRequest
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc
from semroute.wire import decision_from_proto

from .conftest import RunningServer, wait_until

FIRST = "write unit tests for the parser"
SHORT = [f"write unit tests for the {name} module" for name in ("billing", "auth", "cache", "queue", "search")] + [
    f"summarize this {what} in three bullet points" for what in ("article", "thread", "meeting", "report", "log")
]
MEDIUM = [
    "Refactor the payment module so that every provider goes through one retrying client, keep the public functions "
    f"as they are, update the callers in the {place} and explain each change you make in the pull request description"
    for place in ("web app", "worker", "billing service")
]


class PassGate:
    """The real model behind a gate that sees every embedding pass: it records the pass's texts and the CPU priority
    of its thread, and while shut holds each pass until a permit lets it through."""

    def __init__(self, inner: FastEmbedEmbedder) -> None:
        self._inner = inner
        self.passes: list[list[str]] = []
        self.priorities: list[tuple[list[str], int]] = []
        self._entered = threading.Semaphore(0)
        self._permits = threading.Semaphore(0)
        self._open = threading.Event()
        self._open.set()

    @property
    def identity(self) -> ModelIdentity:
        return self._inner.identity

    def shut(self) -> None:
        """Hold every pass from now on until allowed; :meth:`wait_entered` counts passes from now on."""
        self._entered = threading.Semaphore(0)
        self._open.clear()

    def allow(self, passes: int = 1) -> None:
        """Let ``passes`` held passes through."""
        self._permits.release(passes)

    def open(self) -> None:
        """Let every pass through, held or to come."""
        self._open.set()
        self._permits.release(1_000)

    def wait_entered(self) -> None:
        """Wait for the next pass to reach the model."""
        assert self._entered.acquire(timeout=30), "no embedding pass reached the model"

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        self.passes.append(list(texts))
        if sys.platform == "linux":
            self.priorities.append((list(texts), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        self._entered.release()
        if not self._open.is_set():
            assert self._permits.acquire(timeout=60), "the test never let this pass through"
        return self._inner.embed(texts, batch_size)


def _answer(decision: RemoteDecision) -> dict[str, Any]:
    return {**decision.to_json(), "request_id": None, "decision_id": None}


def _alone(router: Router, text: str) -> dict[str, Any]:
    return {**router.route(RouteRequest(text)).to_json(), "request_id": None, "decision_id": None}


def _route_future(channel: grpc.Channel, text: str) -> Any:
    """A Route call that the test can cancel."""
    return router_pb2_grpc.RouterServiceStub(channel).Route.future(pb.RouteRequest(text=text, full_trace=True), 60)


def test_calls_waiting_together_share_a_pass_by_length_and_each_gets_its_lone_answer(
    start_server: Any, embedder: FastEmbedEmbedder, default_router: Router, long_task: str
) -> None:
    gate = PassGate(embedder)
    running: RunningServer = start_server(embedder_override=gate, compute_slots=2)  # one pass a lane at a time
    longs = [long_task, "Please review " + long_task]  # one part each (no instruction part to embed apart)
    texts = [*SHORT, *MEDIUM, *longs]
    gate.shut()

    with RouterClient(running.target) as client, ThreadPoolExecutor(max_workers=len(texts) + 1) as pool:
        first = pool.submit(client.route, FIRST, timeout=60)
        gate.wait_entered()  # the short lane's pass is taken: what comes now waits
        before = len(gate.passes)
        calls = {text: pool.submit(client.route, text, timeout=60, full_trace=True) for text in texts}
        wait_until(lambda: running.server.admitted_calls == len(texts) + 1, "every call to be admitted")
        gate.open()
        answers = {text: call.result() for text, call in calls.items()}
        first.result()

    passes = gate.passes[before:]
    assert sorted(text for batch in passes for text in batch) == sorted(texts)  # each text embedded once
    short_passes = [batch for batch in passes if set(batch) <= set(SHORT)]
    assert sorted(len(batch) for batch in short_passes) == [2, 8]  # ten short texts, eight a pass at most
    assert sorted(MEDIUM) in [sorted(batch) for batch in passes]
    works = {text: default_router.embedding_work([default_router.embedded_part(text)]) for text in texts}
    assert all(len({length_group(works[text]) for text in batch}) == 1 for batch in passes)
    assert all(len(batch) == 1 for batch in passes if set(batch) & set(longs))  # long texts gain nothing together
    for text in texts:
        assert _answer(answers[text]) == _alone(default_router, text)
    assert running.server.admitted_calls == 0


def test_a_call_whose_deadline_passes_while_waiting_for_a_batch_is_not_embedded(
    start_server: Any, embedder: FastEmbedEmbedder, default_router: Router
) -> None:
    gate = PassGate(embedder)
    running: RunningServer = start_server(embedder_override=gate, compute_slots=2)
    late, patient = SHORT[0], SHORT[1]
    gate.shut()

    with RouterClient(running.target) as client, ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(client.route, FIRST, timeout=60)
        gate.wait_entered()
        waiting = pool.submit(client.route, patient, timeout=60, full_trace=True)
        wait_until(lambda: running.server.admitted_calls == 2, "the patient call to queue")
        with pytest.raises(ServiceError) as expired:
            client.route(late, timeout=0.3)
        gate.open()
        answer = waiting.result()
        first.result()

    assert expired.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert late not in [text for batch in gate.passes for text in batch]
    assert _answer(answer) == _alone(default_router, patient)
    wait_until(lambda: running.server.admitted_calls == 0, "every call to leave")


def test_a_call_cancelled_while_waiting_for_a_batch_is_not_embedded(
    start_server: Any, embedder: FastEmbedEmbedder, default_router: Router
) -> None:
    gate = PassGate(embedder)
    running: RunningServer = start_server(embedder_override=gate, compute_slots=2)
    leaving, staying = SHORT[2], SHORT[3]
    gate.shut()

    with RouterClient(running.target) as client, grpc.insecure_channel(running.target) as channel:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(client.route, FIRST, timeout=60)
            gate.wait_entered()
            cancelled, kept = _route_future(channel, leaving), _route_future(channel, staying)
            wait_until(lambda: running.server.admitted_calls == 3, "both calls to queue")
            cancelled.cancel()
            wait_until(lambda: running.server.admitted_calls == 2, "the cancelled call to leave the queue")
            gate.open()
            answer = kept.result()
            first.result()

    assert cancelled.cancelled()
    assert leaving not in [text for batch in gate.passes for text in batch]
    assert _answer(decision_from_proto(answer.decision)) == _alone(default_router, staying)
    wait_until(lambda: running.server.admitted_calls == 0, "every call to leave")


@pytest.mark.parametrize("leaving", [0, 1], ids=["the call that runs the pass", "a call that waits for it"])
def test_a_call_cancelled_while_its_batch_runs_harms_no_other_call_of_the_batch(
    start_server: Any, embedder: FastEmbedEmbedder, default_router: Router, leaving: int
) -> None:
    """A call waiting for its batch's pass leaves at once; the call whose thread runs the pass finishes it first."""
    gate = PassGate(embedder)
    running: RunningServer = start_server(embedder_override=gate, compute_slots=2)
    texts = [SHORT[4], SHORT[5], SHORT[6]]
    gate.shut()

    with RouterClient(running.target) as client, grpc.insecure_channel(running.target) as channel:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(client.route, FIRST, timeout=60)
            gate.wait_entered()
            calls = []
            for count, text in enumerate(texts, start=2):  # one at a time: the first to arrive runs the batch
                calls.append(_route_future(channel, text))
                wait_until(lambda expected=count: running.server.admitted_calls == expected, "the call to queue")
            gate.allow()  # the first call's pass ends; the three waiting calls start theirs
            gate.wait_entered()
            assert sorted(gate.passes[-1]) == sorted(texts)
            calls[leaving].cancel()
            if leaving:
                wait_until(lambda: running.server.admitted_calls == 2, "the cancelled call to leave its batch")
            gate.open()
            answers = {
                text: call.result() for text, call in zip(texts, calls, strict=True) if call is not calls[leaving]
            }
            first.result()

    assert calls[leaving].cancelled()
    for text, answer in answers.items():
        assert _answer(decision_from_proto(answer.decision)) == _alone(default_router, text)
    wait_until(lambda: running.server.admitted_calls == 0, "every call to leave")


@pytest.mark.skipif(sys.platform != "linux", reason="the long lane's priority is a per-thread nice value on Linux")
def test_long_passes_run_at_a_lower_cpu_priority_than_short_ones(
    start_server: Any, embedder: FastEmbedEmbedder, long_task: str
) -> None:
    gate = PassGate(embedder)
    running: RunningServer = start_server(embedder_override=gate, long_lane_nice=7)

    with RouterClient(running.target) as client:
        client.route(SHORT[7])
        client.route(long_task)
        client.route_batch([long_task, SHORT[8]])

    priorities = {tuple(texts): nice for texts, nice in gate.priorities}
    assert priorities[(SHORT[7],)] == os.getpriority(os.PRIO_PROCESS, 0)  # as the server's other threads
    assert priorities[(long_task,)] == priorities[(long_task, SHORT[8])] == 7


def test_the_model_embeds_each_text_of_a_pass_as_alone(embedder: FastEmbedEmbedder, long_task: str) -> None:
    texts = [*SHORT[:3], long_task, *MEDIUM[:2], "ok", SHORT[9]]

    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([text]) for text in texts])

    assert np.array_equal(together, alone)  # what lets micro-batching answer every caller as if alone


def test_a_pass_of_mixed_lengths_is_cut_into_batches_of_like_lengths() -> None:
    lengths = [40, 3_000, 35, 2_500, 400, 700, 60]

    batches = length_batches(lengths, batch_size=64)

    assert batches == [[2, 0, 6], [4, 5], [3, 1]]  # up to 160 characters together, then within a factor of two
    assert length_batches(lengths, batch_size=2) == [[2, 0], [6], [4, 5], [3, 1]]
