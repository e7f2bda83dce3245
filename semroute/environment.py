"""Where semroute keeps its files: the one place that reads the environment.

``SEMROUTE_HOME`` (default ``.semroute`` in the working directory) holds the provisioned model and the built index;
``SEMROUTE_ROUTES`` (default ``routes``) is the routes folder. The outcome store's default SQLite file lives in
``SEMROUTE_HOME`` too.
"""

from __future__ import annotations

import os
from pathlib import Path


def semroute_home() -> Path:
    """Folder for the provisioned model and the index artifact."""
    return Path(os.environ.get("SEMROUTE_HOME", ".semroute"))


def default_routes_dir() -> Path:
    """The routes folder used when none is given."""
    return Path(os.environ.get("SEMROUTE_ROUTES", "routes"))


def default_model_dir() -> Path:
    """Where ``semroute model`` provisions the default embedding model."""
    return semroute_home() / "models" / "all-MiniLM-L6-v2-int8"


def default_index_path() -> Path:
    """Where ``semroute index`` writes the index artifact."""
    return semroute_home() / "index" / "semroute-index.zip"


def default_learned_path() -> Path:
    """Where ``semroute learn`` writes what it learned, and ``semroute index`` picks it up."""
    return semroute_home() / "learned.zip"


def default_store_path() -> Path:
    """Where ``semroute serve`` keeps its outcome store (SQLite) unless told otherwise."""
    return semroute_home() / "outcomes.db"


def litellm_offline() -> None:
    """Make litellm read its bundled cost map instead of downloading one at import time."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def environment_value(name: str) -> str | None:
    """The environment variable ``name`` (e.g. a provider's API key named in ``Provider.api_key_env``), or None."""
    return os.environ.get(name)
