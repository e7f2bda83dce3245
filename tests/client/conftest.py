"""Client fixtures: the session server of ``tests/service``, and a virtualenv that holds only the base install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import REPO

# Shared by name: pytest finds fixtures through the conftest namespace, so importing them is what makes them visible
# here. Under tests/client they are separate instances (one more server per session), built from the same functions.
from tests.service.conftest import certificates, client, session_server, start_server, target  # noqa: F401

# The working tree is copied before installing: pip builds a local project in place, and setuptools' build/ folder
# would both litter the shared tree and leak files deleted since into later wheels.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".semroute", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "bench-results"
)
INSTALL_TIMEOUT_SECONDS = 600.0  # pip downloads from PyPI; a cold install of the base takes well under a minute
STDERR_TAIL_LINES = 30
_PYTHON_ENVIRONMENT = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


def run(command: Sequence[str | Path], cwd: Path, timeout: float = 120.0) -> str:
    """Run ``command`` in ``cwd``, out of reach of this interpreter's paths, and return its stdout.

    The child gets no PYTHONPATH and a working directory outside the repository, so that ``import semroute`` finds
    the installed package rather than the source tree. A non-zero exit fails the test with the tail of stderr.
    """
    environment = {name: value for name, value in os.environ.items() if name not in _PYTHON_ENVIRONMENT}
    words = [str(word) for word in command]
    try:
        finished = subprocess.run(
            words, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{' '.join(words)} still running after {timeout:.0f} s\n{_tail(expired.stderr)}", pytrace=False)
    if finished.returncode != 0:
        pytest.fail(f"{' '.join(words)} exited {finished.returncode}\n{_tail(finished.stderr)}", pytrace=False)
    return finished.stdout


def _tail(stderr: str | bytes | None) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr or ""
    return "stderr (tail):\n" + "\n".join(text.splitlines()[-STDERR_TAIL_LINES:])


@pytest.fixture(scope="session")
def lean_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a fresh virtualenv holding ``pip install .`` with no extras (built once per session)."""
    root = tmp_path_factory.mktemp("lean")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    venv = root / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=root)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", source], cwd=root, timeout=INSTALL_TIMEOUT_SECONDS)
    return python.parent
