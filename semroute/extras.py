"""Which optional parts of semroute are installed, and a clear error when a command needs one that is not.

``pip install semroute`` is the client and the command line's face (grpcio, protobuf, click). The extras add the
rest; a command that needs one checks for it first, so that the user reads which extra to install instead of a
``ModuleNotFoundError`` from deep inside a library.
"""

from __future__ import annotations

import importlib.util

from semroute.errors import MissingExtraError

# The modules each extra brings, as they are imported (what the distributions install).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "server": (
        "numpy",
        "faiss",
        "fastembed",
        "sklearn",
        "pydantic",
        "yaml",
        "tqdm",
        "litellm",
        "grpc_reflection",
        "jsonschema",
        "sqlalchemy",
    ),
    "eval": ("matplotlib",),
    "store": ("psycopg",),
    "llm": ("litellm",),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def require_extra(extra: str, needed_by: str) -> None:
    """Check that ``extra`` is installed before ``needed_by`` (a command, in the user's words) imports it.

    Raises:
        MissingExtraError: naming the extra, the missing modules and the command that installs them.
    """
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"{needed_by} needs semroute's '{extra}' extra, which is not installed here (missing: "
            f"{', '.join(missing)}); install it with: pip install 'semroute[{extra}]'"
        )
