"""Commands that need an extra say which one to install, and the base install's entry points stay light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from semroute import extras
from semroute.cli import main
from semroute.errors import MissingExtraError

HEAVY = ("numpy", "faiss", "fastembed", "onnxruntime", "pydantic", "yaml", "sklearn", "litellm", "tqdm", "scipy")


@pytest.fixture
def server_extra_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the server extra is not installed: one of its modules cannot be found."""
    monkeypatch.setitem(extras.EXTRA_MODULES, "server", ("semroute_no_such_module", "numpy"))


@pytest.mark.usefixtures("server_extra_missing")
def test_require_extra_names_the_extra_the_missing_modules_and_the_install_command() -> None:
    with pytest.raises(MissingExtraError, match=r"`semroute index` needs semroute's 'server' extra.*semroute_no_such"):
        extras.require_extra("server", "`semroute index`")


@pytest.mark.usefixtures("server_extra_missing")
@pytest.mark.parametrize("arguments", [["check"], ["index"], ["route", "hello"], ["serve"], ["eval", "--help"]])
def test_commands_that_need_the_server_say_so_with_exit_code_5(arguments: list[str]) -> None:
    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == 5, result.output
    assert "pip install 'semroute[server]'" in result.output


def loaded_modules(code: str) -> tuple[list[str], str]:
    """Run ``code`` in a fresh interpreter; the modules it loaded and what it printed before them."""
    script = f"import json, sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    *printed, modules = result.stdout.strip().splitlines()
    return json.loads(modules), "\n".join(printed)


def test_help_lists_every_command_without_importing_the_later_stages() -> None:
    loaded, printed = loaded_modules("from semroute.cli import main; main(['--help'])")

    for command in ("serve", "eval", "fit", "routes-from-dataset", "route", "index", "check", "model"):
        assert f"  {command} " in printed
    assert [name for name in loaded if name.split(".")[0] in HEAVY or name.startswith("semroute.service")] == []


@pytest.mark.parametrize("module", ["semroute", "semroute.cli", "semroute.client"])
def test_light_entry_points_import_nothing_of_the_server(module: str) -> None:
    loaded, _ = loaded_modules(f"import {module}")

    assert [name for name in loaded if name.split(".")[0] in HEAVY] == []
