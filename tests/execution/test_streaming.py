"""complete(stream=True): chunks from the first model that starts answering, a fallback only before the first chunk,
refused where the route has validators; the blocking and the asyncio face, against the real litellm."""

from __future__ import annotations

import asyncio

import pytest

from semroute.client import AsyncRouterClient, RouterClient
from semroute.execution import Provider
from semroute.execution.attempts import cost_usd
from semroute.types import AttemptOutcome
from tests.execution.conftest import EXTRACTION_TASK
from tests.execution.llm_server import Fail, Reply, ScriptedLLMServer

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
