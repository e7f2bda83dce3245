"""Command-line options shared by the ``semroute`` commands (cli.py, service/cli.py and quality/cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

FC = TypeVar("FC", bound=Callable[..., object])

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


def store_option(what: str = "Outcome store") -> Callable[[FC], FC]:
    """``--store URL``: the outcome store, SQLite by default; ``what`` opens its help text."""
    return click.option(
        "--store",
        "store_url",
        default=_default_store,
        show_default="sqlite:///$SEMROUTE_HOME/outcomes.db",
        help=f"{what}: sqlite:///PATH, a file path, or postgresql://...",
    )


STORE_OPTION = store_option()
