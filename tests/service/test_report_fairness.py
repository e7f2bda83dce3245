"""Reports are bounded per caller: one client flooding the server with valid reports gets RESOURCE_EXHAUSTED on its
own calls, and eight well-behaved clients beside it get none (a real server, the real client, an SQLite store)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable

import pytest

from semroute.client import RouterClient, ServiceError
from semroute.errors import StoreFullError
from semroute.service._report_slots import ReportSlots
from tests.conftest import REPO
from tests.service.conftest import RunningServer
from tests.service.well_behaved_client import ATTEMPTS

WELL_BEHAVED_CLIENTS = 8
ROUNDS = 25  # route, then report, per well-behaved client
FLOOD_THREADS = 32  # on one channel
GENEROUS_SECONDS = 20.0  # only a refusal may fail a call, not a busy test machine


def test_a_caller_holds_at_most_its_share_of_the_slots() -> None:
    slots = ReportSlots(total=3, per_caller=2)

    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(StoreFullError, match="this caller already has 2 reports waiting"), slots.hold("a"):
            pass
        with slots.hold("b"):
            with pytest.raises(StoreFullError, match="too many reports are waiting"), slots.hold("c"):
                pass
    with slots.hold("a"), slots.hold("a"), slots.hold("c"):  # every slot came back
        pass


def well_behaved_clients(target: str) -> list[subprocess.Popen[str]]:
    """The well-behaved clients, each in a process (a connection) of its own."""
    command = [sys.executable, "-m", "tests.service.well_behaved_client", target, str(ROUNDS)]
    return [
        subprocess.Popen([*command, str(number)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for number in range(WELL_BEHAVED_CLIENTS)
    ]


def flood(client: RouterClient, decision_id: str, stop: threading.Event, codes: Counter[str]) -> None:
    """Report the same decision again and again until ``stop``, counting the answers (and the refusals' text)."""
    while not stop.is_set():
        try:
            client.report_outcome(decision_id, ATTEMPTS, accepted=True, timeout=GENEROUS_SECONDS)
            codes["OK"] += 1
        except ServiceError as error:
            codes[error.code.name] += 1
            codes[error.details] += 1


def test_a_flood_of_reports_from_one_caller_is_refused_to_it_alone(
    start_server: Callable[..., RunningServer],
) -> None:
    running = start_server()
    stop, codes = threading.Event(), Counter[str]()
    with RouterClient(running.target) as flooder:
        decision_id = flooder.route("summarize this article").decision_id
        flooding = [
            threading.Thread(target=flood, args=(flooder, decision_id, stop, codes)) for _ in range(FLOOD_THREADS)
        ]
        for thread in flooding:
            thread.start()
        try:
            clients = well_behaved_clients(running.target)
            answers = [Counter[str](json.loads(client.communicate(timeout=300)[0])) for client in clients]
        finally:
            stop.set()
            for thread in flooding:
                thread.join(60)

    assert [client.returncode for client in clients] == [0] * WELL_BEHAVED_CLIENTS
    assert answers == [Counter(OK=ROUNDS)] * WELL_BEHAVED_CLIENTS  # not one RESOURCE_EXHAUSTED among them
    assert codes["RESOURCE_EXHAUSTED"] > 0 and codes["OK"] > 0, codes  # the flood met its bound, and was served
    refusal = "this caller already has 8 reports waiting for the outcome store, its limit; retry later"
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED", refusal}, codes  # the flood's own bound, never all callers'
    store = running.server.store
    assert store is not None
    assert store.database.count("outcomes") == WELL_BEHAVED_CLIENTS * ROUNDS + 1


def test_the_per_caller_bound_is_a_server_setting(start_server: Callable[..., RunningServer]) -> None:
    running = start_server(max_reports_per_caller=1)
    stop, codes = threading.Event(), Counter[str]()
    with RouterClient(running.target) as client:
        decision_id = client.route("summarize this article").decision_id
        threads = [threading.Thread(target=flood, args=(client, decision_id, stop, codes)) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            while codes["RESOURCE_EXHAUSTED"] == 0 and sum(codes.values()) < 5000:
                stop.wait(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)

    assert codes["this caller already has 1 reports waiting for the outcome store, its limit; retry later"] > 0, codes
