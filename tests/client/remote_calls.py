"""Call a running server through both clients and print what came back as one JSON object.

Run by ``test_lean_install`` with the lean virtualenv's interpreter (``python -I remote_calls.py HOST:PORT``), so it
imports nothing but the client: whatever it needs beyond the base install makes the test fail.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import semroute
from semroute.client import AsyncRouterClient, RouterClient

TASK = "write unit tests for the parser"
BATCH = [TASK, "Summarize this article in three bullet points"]


def blocking_calls(target: str) -> dict[str, Any]:
    """Every read-only call of :class:`RouterClient`."""
    with RouterClient(target) as client:
        decision = client.route(TASK, full_trace=True)
        index = client.index_info()
        return {
            "decision": decision.to_json(),
            "model_name": decision.model.name,
            "model_litellm": decision.model.litellm,
            "fallbacks": [model.name for model in decision.fallbacks],
            "request_id": decision.request_id,
            "batch": [item.route for item in client.route_batch(BATCH)],
            "routes": [route.name for route in client.list_routes()],
            "index": {
                "fingerprint": index.fingerprint,
                "route_count": index.route_count,
                "utterance_count": index.utterance_count,
                "embedding_dimension": index.embedding_dimension,
            },
            "health": str(client.health()),
        }


async def asyncio_calls(target: str) -> dict[str, Any]:
    """Routing through :class:`AsyncRouterClient`, one task and a batch."""
    async with AsyncRouterClient(target) as client:
        decision = await client.route(TASK)
        batch = await client.route_batch(BATCH)
        return {
            "decision": decision.to_json(),
            "batch": [item.route for item in batch],
            "health": str(await client.health()),
        }


def main() -> None:
    target = sys.argv[1]
    results = {"semroute_file": semroute.__file__, "blocking": blocking_calls(target)}
    results["asyncio"] = asyncio.run(asyncio_calls(target))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
