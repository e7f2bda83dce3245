"""complete(stream=True): chunks from the first model that starts answering, a fallback only before the first chunk,
refused where the route has validators, and one outcome report for every stream that ends (accepted, exhausted,
failed mid-stream, closed early); the blocking and the asyncio face, against the real litellm and a real routing
server with an outcome store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from semroute.client import AsyncRouterClient, RouterClient
from semroute.execution import CompletionError, Provider
from semroute.execution.attempts import cost_usd
from semroute.types import AttemptOutcome
from tests.execution.conftest import EXTRACTION_TASK
from tests.execution.llm_server import Fail, LoopbackHTTPServer, Reply, ScriptedLLMServer
from tests.service.conftest import RunningServer

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),  # litellm's pydantic models, on first use
    # litellm's stream handler reads a pydantic attribute pydantic 2.11 deprecates; outside tests it is a warning
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*' attribute on the instance:DeprecationWarning"),
]

SUMMARY_TASK = "Summarize this article in three bullet points"  # summarization: gemini-3-flash, then deepseek-v3.2
PRIMARY, FALLBACK = "gemini-3-flash", "deepseek-v3.2"


def test_a_stream_falls_back_before_its_first_chunk_and_ends_with_the_completion(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Fail(503))
    llm.script(FALLBACK, Reply("- one\n- two\n- three", 30, 9))

    stream = client.complete(SUMMARY_TASK, stream=True, providers=providers)
    with pytest.raises(RuntimeError, match="read the stream to its end first"):
        _ = stream.completion
    text = "".join(stream)

    completion = stream.completion
    assert text == completion.text == "- one\n- two\n- three"
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        (PRIMARY, AttemptOutcome.PROVIDER_ERROR),
        (FALLBACK, AttemptOutcome.ACCEPTED),
    ]
    assert [request.body.get("stream") for request in llm.received] == [True, True]
    assert completion.attempts[1].output_tokens == 9
    assert completion.cost_usd == pytest.approx(cost_usd(completion.model, 30, 9))


def test_a_route_with_validators_cannot_stream(
    cascade_client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    with pytest.raises(ValueError, match="stream=True needs a route without validators; route 'extraction' has json"):
        cascade_client.complete(EXTRACTION_TASK, stream=True, providers=providers)
    assert llm.received == []


def test_the_async_face_streams_too(target: str, llm: ScriptedLLMServer, providers: dict[str, Provider]) -> None:
    llm.script(PRIMARY, Reply("short summary", 20, 3))

    async def run() -> tuple[str, str]:
        async with AsyncRouterClient(target) as client:
            stream = await client.complete(SUMMARY_TASK, stream=True, providers=providers)
            text = "".join([chunk async for chunk in stream])
            return text, stream.completion.model.name

    assert asyncio.run(run()) == ("short summary", PRIMARY)


# --- every stream that ends is reported, exactly once, with its attempts ---------------------------------------------

Recorded = tuple[bool | None, list[tuple[str, str, str, str]]]  # accepted; (model, outcome, error_class, message)


def recorded(server: RunningServer, decision_id: str) -> Recorded:
    """What the server's outcome store holds for ``decision_id``: whether accepted, and each attempt."""
    with sqlite3.connect(server.index_path.with_suffix(".outcomes.db")) as database:
        outcome = database.execute("SELECT accepted FROM outcomes WHERE decision_id = ?", (decision_id,)).fetchone()
        attempts = database.execute(
            "SELECT model, outcome, error_class, message FROM attempts WHERE decision_id = ? ORDER BY position",
            (decision_id,),
        ).fetchall()
    return (None if outcome is None else bool(outcome[0])), [tuple(row) for row in attempts]


class BrokenStreamServer(LoopbackHTTPServer):
    """An OpenAI-compatible server whose streams send one chunk of text, then drop the connection mid-body."""

    def __init__(self) -> None:
        super().__init__(_BrokenStreamHandler)


class _BrokenStreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        chunk = {
            "id": "chatcmpl-broken",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "delta": {"content": "the first words"}, "finish_reason": None}],
        }
        event = f"data: {json.dumps(chunk)}\n\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")  # one chunk, never the last one
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def broken_providers() -> Iterator[dict[str, Provider]]:
    """Every model sent to a server whose streams break after their first chunk."""
    server = BrokenStreamServer()
    server.start()
    yield {"*": Provider(model="openai/{name}", api_base=server.api_base, api_key="test")}
    server.stop()


def test_an_accepted_stream_is_reported_once_and_yields_no_empty_chunks(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("one two three", 20, 3))
    with RouterClient(session_server.target) as client:
        stream = client.complete(SUMMARY_TASK, stream=True, providers=providers)
        chunks = list(stream)
    assert chunks == ["one", " two", " three"]  # the closing and the usage chunks carry no text: not yielded
    assert client.report_counters.sent == 1
    assert recorded(session_server, stream.completion.decision.decision_id) == (
        True,
        [(PRIMARY, "accepted", "", "")],
    )


def test_a_stream_whose_every_model_fails_before_its_first_chunk_is_reported(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Fail(500, "boom"))
    llm.script(FALLBACK, Fail(429, "slow down", "rate_limit_exceeded"))
    with RouterClient(session_server.target) as client:
        stream = client.complete(SUMMARY_TASK, stream=True, providers=providers)
        with pytest.raises(CompletionError) as raised:
            list(stream)
    assert client.report_counters.sent == 1
    accepted, attempts = recorded(session_server, raised.value.decision.decision_id)
    assert accepted is False
    assert [(model, outcome, error_class) for model, outcome, error_class, _ in attempts] == [
        (PRIMARY, "provider_error", "InternalServerError"),
        (FALLBACK, "provider_error", "RateLimitError"),
    ]


def test_a_stream_that_breaks_after_its_first_chunk_raises_and_is_reported(
    session_server: RunningServer, broken_providers: dict[str, Provider]
) -> None:
    chunks: list[str] = []
    with RouterClient(session_server.target) as client:
        stream = client.complete(SUMMARY_TASK, stream=True, providers=broken_providers)
        with pytest.raises(Exception) as raised:  # raised as it is: the model was committed
            for chunk in stream:
                chunks.append(chunk)
    assert not isinstance(raised.value, CompletionError)
    assert chunks == ["the first words"]
    assert client.report_counters.sent == 1
    accepted, attempts = recorded(session_server, stream.decision.decision_id)
    assert accepted is False
    [(model, outcome, error_class, message)] = attempts  # committed: no fallback after the first chunk
    assert (model, outcome, error_class) == (PRIMARY, "provider_error", type(raised.value).__name__)
    assert message.startswith("the stream broke after 1 chunk: ")


def test_a_stream_closed_early_by_the_caller_is_reported(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("one two three four", 20, 4))
    with RouterClient(session_server.target) as client:
        stream = client.complete(SUMMARY_TASK, stream=True, providers=providers)
        for chunk in stream:
            assert chunk == "one"
            break
        with pytest.raises(RuntimeError, match="read the stream to its end first"):
            _ = stream.completion
        with pytest.raises(RuntimeError, match="a stream is read once"):
            list(stream)
    assert client.report_counters.sent == 1
    accepted, attempts = recorded(session_server, stream.decision.decision_id)
    [(model, outcome, _, message)] = attempts
    assert (accepted, model, outcome) == (True, PRIMARY, "accepted")  # the caller took what it read
    assert message == "the caller closed the stream after 1 chunk"


def test_the_async_face_reports_failed_and_closed_streams(
    session_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    async def run() -> tuple[str, str, int]:
        async with AsyncRouterClient(session_server.target) as client:
            llm.script(PRIMARY, Fail(500, "boom"))
            llm.script(FALLBACK, Fail(503, "overloaded"))
            failing = await client.complete(SUMMARY_TASK, stream=True, providers=providers)
            with pytest.raises(CompletionError):
                [chunk async for chunk in failing]
            llm.script(PRIMARY, Reply("one two three", 20, 3))
            async with await client.complete(SUMMARY_TASK, stream=True, providers=providers) as closed:
                async for chunk in closed:
                    assert chunk == "one"
                    break
        return failing.decision.decision_id, closed.decision.decision_id, client.report_counters.sent

    failed_id, closed_id, sent = asyncio.run(run())
    assert sent == 2
    assert recorded(session_server, failed_id)[0] is False
    assert [row[1] for row in recorded(session_server, failed_id)[1]] == ["provider_error", "provider_error"]
    assert recorded(session_server, closed_id) == (
        True,
        [(PRIMARY, "accepted", "", "the caller closed the stream after 1 chunk")],
    )


class _SlowStreamHandler(_BrokenStreamHandler):
    """Sends one chunk, then keeps the stream open for a second before it breaks."""

    def do_POST(self) -> None:
        super().do_POST()
        time.sleep(1.0)


def test_closing_the_async_client_while_another_task_reads_a_stream(session_server: RunningServer) -> None:
    """close() raised "aclose(): asynchronous generator is already running" and left the channels open."""
    server = LoopbackHTTPServer(_SlowStreamHandler)
    server.start()
    providers = {"*": Provider(model="openai/{name}", api_base=server.api_base, api_key="test")}

    async def run() -> None:
        client = AsyncRouterClient(session_server.target)
        stream = await client.complete(SUMMARY_TASK, stream=True, providers=providers)
        first = asyncio.Event()

        async def read() -> None:
            async for _ in stream:
                first.set()

        reader = asyncio.create_task(read())
        await first.wait()  # the reader now waits inside the stream for its next chunk
        await client.close()
        with pytest.raises(Exception):  # noqa: B017 (raised as it is: the model was committed) a second later
            await reader
        assert client.report_counters.failed == 1  # its report found the client closed: counted, not raised

    try:
        asyncio.run(run())
    finally:
        server.stop()
