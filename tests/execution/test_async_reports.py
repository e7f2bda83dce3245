"""The asyncio client's outcome reports: sent by tasks on the caller's loop, waited for by ``close()``. A client that
is not closed before its loop ends loses the reports still in flight: that is said, in a log warning naming the
decision and in the counters, and the unclosed client raises a ResourceWarning, rather than passing in silence."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import uuid
import warnings

import pytest

from semroute.client import AsyncRouterClient
from semroute.execution import Completion, Provider
from tests.execution.llm_server import Fail, Reply, ScriptedLLMServer, Stall
from tests.execution.test_streaming import FALLBACK, PRIMARY, SUMMARY_TASK, recorded
from tests.service.conftest import RunningServer

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),  # litellm's pydantic models, on first use
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*' attribute on the instance:DeprecationWarning"),
]


def test_a_closed_client_has_sent_its_report(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("summary", 20, 3))

    async def main() -> tuple[Completion, int]:
        async with AsyncRouterClient(session_server.target) as client:
            completion = await client.complete(SUMMARY_TASK, providers=providers)
        return completion, client.report_counters.sent

    completion, sent = asyncio.run(main())
    assert sent == 1
    assert recorded(session_server, completion.decision.decision_id) == (True, [(PRIMARY, "accepted", "", "")])


def test_a_client_not_closed_before_its_loop_ends_says_its_report_was_lost(
    session_server: RunningServer,
    llm: ScriptedLLMServer,
    providers: dict[str, Provider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm.script(PRIMARY, Reply("summary", 20, 3))

    async def main() -> tuple[AsyncRouterClient, Completion]:
        client = AsyncRouterClient(session_server.target)
        return client, await client.complete(SUMMARY_TASK, providers=providers)  # and the loop ends

    with caplog.at_level(logging.WARNING, logger="semroute.client"):
        client, completion = asyncio.run(main())

    assert client.report_counters.dropped == 1 and client.report_counters.sent == 0
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    message = warning.getMessage()
    assert f"outcome report of decision {completion.decision.decision_id} was lost" in message
    assert "async with AsyncRouterClient(...)" in message and "await client.close()" in message
    with warnings.catch_warnings():  # other garbage first: litellm's sync calls leave an event loop unclosed
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    with pytest.warns(ResourceWarning, match="unclosed AsyncRouterClient"):
        del client  # the client and its reporter refer to each other: the collector finds them
        gc.collect()


def test_closing_the_client_closes_and_reports_a_stream_left_after_a_break(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("one two three", 20, 3))

    async def main() -> tuple[str, int]:
        async with AsyncRouterClient(session_server.target) as client:
            stream = await client.complete(SUMMARY_TASK, stream=True, providers=providers)
            async for _ in stream:
                break  # an async generator is not closed by a break: the client closes it
        return stream.decision.decision_id, client.report_counters.sent

    decision_id, sent = asyncio.run(main())
    assert sent == 1
    assert recorded(session_server, decision_id) == (
        True,
        [(PRIMARY, "accepted", "", "the caller closed the stream after 1 chunk")],
    )
    assert FALLBACK not in llm.models_called()


def test_a_completion_cancelled_after_a_model_was_called_reports_its_attempts(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    marker = f"boom {uuid.uuid4()}"  # finds the completion's attempts among the store's rows
    llm.script(PRIMARY, Fail(500, marker))
    llm.script(FALLBACK, Stall(10.0))

    async def main() -> int:
        async with AsyncRouterClient(session_server.target) as client:
            completing = asyncio.ensure_future(client.complete(SUMMARY_TASK, providers=providers))
            while len(llm.received) < 2:  # the fallback is stalling
                await asyncio.sleep(0.02)
            completing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await completing
        return client.report_counters.sent

    assert asyncio.run(main()) == 1
    with sqlite3.connect(session_server.index_path.with_suffix(".outcomes.db")) as database:
        [(decision_id, outcome)] = database.execute(
            "SELECT decision_id, outcome FROM attempts WHERE message LIKE ?", (f"%{marker}%",)
        ).fetchall()
    assert outcome == "provider_error"
    assert recorded(session_server, decision_id)[0] is False  # only the attempt that ended before the cancellation
    assert len(recorded(session_server, decision_id)[1]) == 1


def test_a_burst_of_completions_has_every_report_sent_within_the_servers_per_caller_bound(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("summary", 20, 3))

    async def main() -> int:
        async with AsyncRouterClient(session_server.target) as client:
            await asyncio.gather(*(client.complete(SUMMARY_TASK, providers=providers) for _ in range(24)))
        counters = client.report_counters
        assert (counters.dropped, counters.failed) == (0, 0)
        return counters.sent

    assert asyncio.run(main()) == 24  # 24 at once would be 3x the server's 8 waiting reports per connection
