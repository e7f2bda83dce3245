"""Command-line options shared by the ``semroute`` commands (cli.py, service/cli.py and quality/cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

ROUTES_OPTION = click.option(
    "--routes", "routes_dir", type=click.Path(path_type=Path), default=None, help="Routes folder [default: routes]."
)
INDEX_OPTION = click.option(
    "--index",
    "index_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Index artifact [default: .semroute/index/semroute-index.zip].",
)


def _default_store() -> str:
    from semroute.store import default_store_url  # the store's settings module: cheap, but only when asked

    return default_store_url()


STORE_OPTION = click.option(
    "--store",
    "store_url",
    default=_default_store,
    show_default="sqlite:///$SEMROUTE_HOME/outcomes.db",
    help="Outcome store: sqlite:///PATH, a file path, or postgresql://...",
)
