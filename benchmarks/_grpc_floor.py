"""The floor under ``grpc_vs_embed_p50_ratio``: a bare gRPC Python server whose one method embeds the text it gets.

It does what a routing call cannot avoid (receive a text over gRPC, embed it with the server's model and ONNX threads,
send 384 floats back) and nothing else: no interceptor, no request id, no admission, no scoring, no decision, no
protobuf message, and the client is grpc's own. ``make bench`` calls it in turn with ``semroute serve`` and the
in-process embedding, so the run shows how much of semroute's overhead over its encoder is gRPC Python's own.

Run as a child process, ``python -m benchmarks._grpc_floor --port N [--index PATH] [--embedding-threads 1]``; it
prints ``ready`` once it serves.
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc

from semroute.embedding import FastEmbedEmbedder
from semroute.environment import default_index_path
from semroute.index import load_index

METHOD = "/semroute.bench.Floor/Embed"


def serve(port: int, index: Path, embedding_threads: int) -> None:
    """Serve ``METHOD`` on loopback ``port`` with the embedding model of ``index`` until SIGTERM."""
    embedder = FastEmbedEmbedder(load_index(index).policy.settings.embedding, threads=embedding_threads)

    def embed(raw: bytes, context: grpc.ServicerContext) -> bytes:
        vector: bytes = embedder.embed([raw.decode()]).tobytes()
        return vector

    handler = grpc.unary_unary_rpc_method_handler(embed)
    service, method = METHOD.strip("/").split("/")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {method: handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda number, frame: stopping.set())
    print("ready", flush=True)
    while not stopping.wait(timeout=1.0):  # a timed wait keeps the main thread responsive to the signal
        pass
    server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--index", type=Path, default=None, help="index whose model to load (default: make index's)")
    parser.add_argument("--embedding-threads", type=int, default=1)
    args = parser.parse_args()
    serve(args.port, args.index or default_index_path(), args.embedding_threads)


if __name__ == "__main__":
    main()
