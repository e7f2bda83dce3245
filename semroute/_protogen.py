"""Regenerate the checked-in gRPC modules of ``semroute.v1`` from ``proto/``, or check that they are current.

Usage (from a source checkout)::

    python -m semroute._protogen           # rewrite semroute/v1/*_pb2*.py{,i}
    python -m semroute._protogen --check   # exit 1, naming the stale files, when they differ from a fresh build

Generating with ``-Iproto`` makes the modules import as ``semroute.v1.router_pb2`` with no path tricks. The output
depends on the versions of grpcio-tools and mypy-protobuf, which is why the ``dev`` extra pins both.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "proto"
GENERATED_DIR = REPO / "semroute" / "v1"
_GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def proto_files() -> list[Path]:
    """Every ``.proto`` file of the ``semroute.v1`` package."""
    return sorted((PROTO_ROOT / "semroute" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> None:
    """Compile the protos into ``out_dir`` (which receives ``semroute/v1/...``).

    Raises:
        RuntimeError: protoc reported an error (its messages are in the exception).
    """
    plugins = Path(sys.executable).parent  # the venv's bin folder, which may not be on PATH under `make`
    well_known_types = resources.files("grpc_tools") / "_proto"
    arguments = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known_types}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(path.relative_to(PROTO_ROOT)) for path in proto_files()),
    ]
    # A child process, so that the plugins' progress chatter can be kept off the terminal unless protoc fails.
    result = subprocess.run(arguments, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed:\n{result.stderr}")


def stale_files() -> list[str]:
    """Names of generated files that differ from (or are missing next to) a fresh build."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh_dir = Path(scratch)
        generate(fresh_dir)
        fresh = {path.name: path.read_bytes() for path in _generated_in(fresh_dir / "semroute" / "v1")}
    current = {path.name: path.read_bytes() for path in _generated_in(GENERATED_DIR)}
    return sorted(name for name in fresh.keys() | current.keys() if fresh.get(name) != current.get(name))


def _generated_in(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.name.endswith(_GENERATED_SUFFIXES)]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m semroute._protogen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale generated files")
    options = parser.parse_args(argv)
    if options.check:
        stale = stale_files()
        if stale:
            print(f"stale generated gRPC code: {', '.join(stale)}; run `make proto`", file=sys.stderr)
            return 1
        print("generated gRPC code is up to date")
        return 0
    generate(REPO)
    print(f"generated {', '.join(sorted(path.name for path in _generated_in(GENERATED_DIR)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
