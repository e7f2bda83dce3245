"""A local OpenAI-compatible chat completion server, scripted per model name, for driving the real litellm.

Each model (the request body's ``model``, i.e. the litellm name after ``openai/``) answers with the next of its
scripted :class:`Reply`, :class:`Fail` or :class:`Stall` (the last one repeats); every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    """A 200 answer: content (or tool calls) and the usage the provider counts."""

    content: str = "ok"
    prompt_tokens: int = 10
    completion_tokens: int = 5
    tool_calls: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Fail:
    """An HTTP error with an OpenAI-style error body (429, 500, 401, 400...)."""

    status: int
    message: str = "scripted failure"
    code: str = ""


@dataclass(frozen=True)
class Stall:
    """Answer only after ``seconds`` (longer than the client waits)."""

    seconds: float = 10.0


Behaviour = Reply | Fail | Stall


@dataclass
class Received:
    """One request the server got: when, for which model, and its body."""

    model: str
    at: float
    body: dict[str, Any] = field(repr=False)


class LoopbackHTTPServer:
    """An HTTP server on a free loopback port, serving ``handler`` from a daemon thread once started."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._http = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        """The OpenAI-style base URL to give litellm."""
        return f"http://{LOOPBACK}:{self._http.server_address[1]}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


class ScriptedLLMServer(LoopbackHTTPServer):
    """The server; ``script(model, *behaviours)`` sets what a model does next."""

    def __init__(self) -> None:
        self._scripts: dict[str, list[Behaviour]] = {}
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.stopping = threading.Event()
        super().__init__(_handler_for(self))

    def stop(self) -> None:
        self.stopping.set()
        super().stop()

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.received.clear()

    def script(self, model: str, *behaviours: Behaviour) -> None:
        with self._lock:
            self._scripts[model] = list(behaviours)

    def models_called(self) -> list[str]:
        return [request.model for request in self.received]

    def next_behaviour(self, body: dict[str, Any]) -> Behaviour:
        model = str(body.get("model", ""))
        with self._lock:
            self.received.append(Received(model, time.monotonic(), body))
            script = self._scripts.get(model) or [Fail(404, f"no script for model {model!r}", "model_not_found")]
            return script.pop(0) if len(script) > 1 else script[0]


def _handler_for(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            behaviour = server.next_behaviour(body)
            if isinstance(behaviour, Stall):
                server.stopping.wait(behaviour.seconds)
                behaviour = Reply("too late")
            if isinstance(behaviour, Fail):
                error = {"message": behaviour.message, "type": "scripted", "code": behaviour.code or None}
                self._send(behaviour.status, json.dumps({"error": error}).encode())
            elif body.get("stream"):
                self._stream(body["model"], behaviour)
            else:
                self._send(200, json.dumps(_completion(body["model"], behaviour)).encode())

        def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, model: str, reply: Reply) -> None:
            events = b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in _chunks(model, reply))
            self._send(200, events + b"data: [DONE]\n\n", "text/event-stream")

    return Handler


def _usage(reply: Reply) -> dict[str, int]:
    total = reply.prompt_tokens + reply.completion_tokens
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": total}


def _completion(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = list(reply.tool_calls)
    reason = "tool_calls" if reply.tool_calls else "stop"
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        "usage": _usage(reply),
    }


def _chunks(model: str, reply: Reply) -> Iterator[dict[str, Any]]:
    head = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    words = reply.content.split(" ")
    for number, word in enumerate(words):
        piece = word if number == 0 else f" {word}"
        yield {**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    yield {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield {**head, "choices": [], "usage": _usage(reply)}
