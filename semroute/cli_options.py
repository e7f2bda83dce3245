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
