"""A virtualenv with only the base install (``pip install .``, no extras) is a working client.

The virtualenv is built once per session (see ``lean_bin``); every call goes to a real server running in this
process with the full install. The fresh-interpreter import check also runs against the full install: the client must
not import the server's modules even where they are installed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from semroute.client import RouterClient

from .conftest import run

HEAVY_MODULES = frozenset(
    {"numpy", "faiss", "fastembed", "onnxruntime", "pydantic", "yaml", "sklearn", "litellm", "tqdm", "scipy"}
)
SERVER_DISTRIBUTIONS = frozenset(
    {"fastembed", "faiss-cpu", "onnxruntime", "scikit-learn", "litellm", "numpy", "pydantic"}
)
CLIENT_DISTRIBUTIONS = frozenset({"semroute", "grpcio", "grpcio-health-checking", "protobuf", "click"})
CALLS_SCRIPT = Path(__file__).with_name("remote_calls.py")
TASK = "write unit tests for the parser"
BATCH = [TASK, "Summarize this article in three bullet points"]
SAME_DECISION = ("route", "model", "fallbacks", "config", "rules", "index_fingerprint")

IMPORT_CLIENT = "import json, sys, semroute.client; print(json.dumps([semroute.__file__, sorted(sys.modules)]))"
LIST_DISTRIBUTIONS = (
    "import json; from importlib.metadata import distributions; "
    "print(json.dumps(sorted(d.metadata['Name'] for d in distributions())))"
)


def heavy_modules(loaded: list[str]) -> list[str]:
    """The heavy top-level packages among ``loaded`` module names (``numpy`` for ``numpy.linalg``)."""
    return sorted({name.partition(".")[0] for name in loaded} & HEAVY_MODULES)


def canonical(distribution: str) -> str:
    """A distribution name as PyPI compares them (PEP 503): ``Faiss_CPU`` is ``faiss-cpu``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def import_client(python: Path, cwd: Path) -> tuple[str, list[str]]:
    """Where ``semroute`` came from and every module loaded by ``import semroute.client`` in a fresh interpreter."""
    semroute_file, modules = json.loads(run([python, "-I", "-c", IMPORT_CLIENT], cwd=cwd))
    return semroute_file, modules


def test_client_import_loads_nothing_heavy_even_when_installed(tmp_path: Path) -> None:
    _, modules = import_client(Path(sys.executable), tmp_path)
    loaded = heavy_modules(modules)
    assert not loaded, f"import semroute.client loaded {loaded}"


def test_lean_install_imports_the_client_without_heavy_modules(lean_bin: Path, tmp_path: Path) -> None:
    semroute_file, modules = import_client(lean_bin / "python", tmp_path)
    assert Path(semroute_file).is_relative_to(lean_bin.parent), f"semroute came from {semroute_file}"
    loaded = heavy_modules(modules)
    assert not loaded, f"import semroute.client loaded {loaded}"


def test_lean_install_holds_no_server_dependency(lean_bin: Path, tmp_path: Path) -> None:
    installed = {
        canonical(name) for name in json.loads(run([lean_bin / "python", "-I", "-c", LIST_DISTRIBUTIONS], tmp_path))
    }
    pulled, missing = sorted(installed & SERVER_DISTRIBUTIONS), sorted(CLIENT_DISTRIBUTIONS - installed)
    assert not pulled, f"the base install pulled server dependencies: {pulled}"
    assert not missing, f"the base install lacks client dependencies: {missing}"


def test_lean_clients_call_a_real_server(lean_bin: Path, target: str, client: RouterClient, tmp_path: Path) -> None:
    results = json.loads(run([lean_bin / "python", "-I", CALLS_SCRIPT, target], tmp_path))
    blocking, awaited = results["blocking"], results["asyncio"]
    expected = client.route(TASK)
    expected_json = expected.to_json()
    expected_batch = [decision.route for decision in client.route_batch(BATCH)]
    index = client.index_info()

    assert Path(results["semroute_file"]).is_relative_to(lean_bin.parent), (
        f"semroute came from {results['semroute_file']}"
    )
    assert blocking["decision"]["route"] == "test_generation"
    for key in SAME_DECISION:
        assert blocking["decision"][key] == expected_json[key], key
        assert awaited["decision"][key] == expected_json[key], key
    assert (blocking["model_name"], blocking["model_litellm"]) == (expected.model.name, expected.model.litellm)
    assert blocking["fallbacks"] == [model.name for model in expected.fallbacks]
    assert blocking["request_id"]  # the server picked one and the client decoded it
    assert blocking["decision"]["trace"]  # full_trace came back
    assert blocking["batch"] == awaited["batch"] == expected_batch
    assert blocking["routes"] == [route.name for route in client.list_routes()]
    assert "test_generation" in blocking["routes"]
    assert blocking["index"] == {
        "fingerprint": index.fingerprint,
        "route_count": index.route_count,
        "utterance_count": index.utterance_count,
        "embedding_dimension": index.embedding_dimension,
    }
    assert blocking["health"] == awaited["health"] == "SERVING"


def test_lean_cli_routes_through_a_server(lean_bin: Path, target: str, client: RouterClient, tmp_path: Path) -> None:
    printed = json.loads(run([lean_bin / "semroute", "route", "--target", target, "--json", TASK], tmp_path))
    assert printed["route"] == "test_generation"
    assert printed["index_fingerprint"] == client.index_info().fingerprint
