"""``semroute serve``: run the gRPC service until SIGTERM or SIGINT."""

from __future__ import annotations

from pathlib import Path

import click

from semroute import service
from semroute.cli_options import INDEX_OPTION
from semroute.environment import default_index_path
from semroute.service._background import DEFAULT_LONG_LANE_NICE
from semroute.service._cache import DEFAULT_CACHE_ENTRIES
from semroute.service._config import (
    DEFAULT_EMBEDDING_THREADS,
    DEFAULT_MAX_BATCH_TEXTS,
    DEFAULT_MAX_REPORTS_PER_CALLER,
)
from semroute.store import DEFAULT_RETENTION_DAYS, StoreSettings, default_store_url


@click.command()
@click.option(
    "--host", default=service.DEFAULT_HOST, show_default=True, help="Interface to bind (0.0.0.0: all of them)."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=service.DEFAULT_PORT, show_default=True, help="TCP port."
)
@INDEX_OPTION
@click.option(
    "--compute-slots",
    type=click.IntRange(min=1),
    default=service.DEFAULT_COMPUTE_SLOTS,
    show_default=True,
    help="Embedding passes at once: calls alone or micro-batches of Route calls (a short and a long lane share them).",
)
@click.option(
    "--embedding-threads",
    type=click.IntRange(min=1),
    default=DEFAULT_EMBEDDING_THREADS,
    show_default=True,
    help="ONNX threads of each embedding pass.",
)
@click.option(
    "--max-batch-texts",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BATCH_TEXTS,
    show_default=True,
    help="Concurrent Route calls embedded together at most (1: each alone).",
)
@click.option(
    "--long-lane-nice",
    type=click.IntRange(0, 19),
    default=DEFAULT_LONG_LANE_NICE,
    show_default=True,
    help="Nice value of the long lane's embedding passes, so short tasks get the CPU first (0: off; Linux).",
)
@click.option(
    "--cache-entries",
    type=click.IntRange(min=0),
    default=DEFAULT_CACHE_ENTRIES,
    show_default=True,
    help="Query vectors kept for repeated texts, by SHA-256 of the text (0: no cache).",
)
@click.option(
    "--max-concurrent-rpcs",
    type=click.IntRange(min=1),
    default=service.DEFAULT_MAX_CONCURRENT_RPCS,
    show_default=True,
    help="Routing calls admitted at once, running or waiting; more get RESOURCE_EXHAUSTED (health never counts).",
)
@click.option(
    "--max-admitted-tokens",
    type=click.IntRange(min=1),
    default=service.DEFAULT_MAX_ADMITTED_TOKENS,
    show_default=True,
    help="Embedding work admitted at once, in tokens; more gets RESOURCE_EXHAUSTED.",
)
@click.option(
    "--max-reports-per-caller",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_REPORTS_PER_CALLER,
    show_default=True,
    help="Reports of one connection waiting for their commit at once; more get RESOURCE_EXHAUSTED.",
)
@click.option("--reflection/--no-reflection", default=False, show_default=True, help="Serve gRPC reflection.")
@click.option(
    "--drain-seconds",
    type=click.FloatRange(min=0),
    default=service.DEFAULT_DRAIN_SECONDS,
    show_default=True,
    help="On SIGTERM, answer this long while health reports NOT_SERVING.",
)
@click.option(
    "--grace-seconds",
    type=click.FloatRange(min=0),
    default=service.DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Then give in-flight calls this long to finish.",
)
@click.option(
    "--watch-seconds",
    type=click.FloatRange(min=0),
    default=service.DEFAULT_WATCH_SECONDS,
    show_default=True,
    help="Check the index file for a new build this often (0: only on SIGHUP or ReloadIndex).",
)
@click.option("--tls-cert", type=click.Path(exists=True, path_type=Path), default=None, help="PEM certificate chain.")
@click.option("--tls-key", type=click.Path(exists=True, path_type=Path), default=None, help="PEM private key.")
@click.option(
    "--tls-client-ca", type=click.Path(exists=True, path_type=Path), default=None, help="Require client certificates."
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Require `authorization: Bearer <token>` with the token in this file (health checks exempt).",
)
@click.option(
    "--admin-token-file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="The token that may also call ReloadIndex (without it, ReloadIndex is refused once a token is required).",
)
@click.option(
    "--health-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also serve health checks in plaintext on this port (for probes that cannot do TLS).",
)
@click.option(
    "--store",
    "store_url",
    default=default_store_url,
    show_default="sqlite:///$SEMROUTE_HOME/outcomes.db",
    help="Outcome store: sqlite:///PATH (one file per replica) or postgresql://... (shared by replicas).",
)
@click.option("--no-store", is_flag=True, default=False, help="Record no decisions or outcomes (reports are refused).")
@click.option(
    "--store-text", is_flag=True, default=False, help="Also keep each task's text in the store (off: only its hash)."
)
@click.option(
    "--keep-constrained-embeddings",
    is_flag=True,
    default=False,
    help="Also keep the embedding of a decision a rule constrained (off: none, as it can be inverted to text).",
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=DEFAULT_RETENTION_DAYS,
    show_default=True,
    help="Purge stored decisions and outcomes older than this.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Least severe log level written (JSON lines on standard error).",
)
def serve(
    host: str,
    port: int,
    index_path: Path | None,
    compute_slots: int,
    embedding_threads: int,
    max_batch_texts: int,
    cache_entries: int,
    long_lane_nice: int,
    max_concurrent_rpcs: int,
    max_admitted_tokens: int,
    max_reports_per_caller: int,
    reflection: bool,
    drain_seconds: float,
    grace_seconds: float,
    watch_seconds: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    token_file: Path | None,
    admin_token_file: Path | None,
    health_port: int | None,
    store_url: str,
    no_store: bool,
    store_text: bool,
    keep_constrained_embeddings: bool,
    retention_days: int,
    log_level: str,
) -> None:
    """Serve the router over gRPC until SIGTERM or SIGINT; SIGHUP (or a new index file) reloads the index."""
    if (tls_cert is None) != (tls_key is None) or (tls_client_ca is not None and tls_cert is None):
        raise click.UsageError("--tls-cert and --tls-key go together, and --tls-client-ca needs both")
    service.configure_logging(log_level.upper())
    service.serve(
        service.ServerConfig(
            host=host,
            port=port,
            index_path=index_path or default_index_path(),
            compute_slots=compute_slots,
            embedding_threads=embedding_threads,
            max_batch_texts=max_batch_texts,
            cache_entries=cache_entries,
            long_lane_nice=long_lane_nice,
            max_concurrent_rpcs=max_concurrent_rpcs,
            max_admitted_tokens=max_admitted_tokens,
            max_reports_per_caller=max_reports_per_caller,
            reflection=reflection,
            drain_seconds=drain_seconds,
            grace_seconds=grace_seconds,
            watch_seconds=watch_seconds,
            tls=service.TlsFiles(tls_cert, tls_key, tls_client_ca) if tls_cert and tls_key else None,
            token=service.read_token_file(token_file) if token_file else None,
            admin_token=service.read_token_file(admin_token_file, "admin token") if admin_token_file else None,
            health_port=health_port,
            store=None
            if no_store
            else StoreSettings(
                store_url,
                store_text=store_text,
                keep_constrained_embeddings=keep_constrained_embeddings,
                retention_days=retention_days,
            ),
        )
    )
