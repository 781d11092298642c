"""The layers of the house are import-linter contracts: they hold today, and an import against them fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "hub", "interactions", "channels_app")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first, so the copy's packages are analysed rather than the installed checkout's.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source packages and the contracts, to break on purpose."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_for_the_code_as_it_is(tree):
    done = _lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        ("hub/events.py", "from interactions import catalogue", "Dependencies point one way"),
        ("hub/log.py", "import rest_framework", "The kernel knows nothing of HTTP"),
        ("hub/backends/base.py", "from hub import store", "The kernel's layers"),
        ("interactions/identity/identifiers.py", "from interactions.api import problems", "domain's rooms"),
        ("interactions/callbacks/services.py", "from channels_app import consumers", "point one way"),
        ("channels_app/fanout.py", "from interactions.projections import threads", "Websocket delivery"),
    ],
)
def test_an_import_against_the_layers_fails_the_check(tree, module, forbidden_import, contract):
    path = tree / module
    path.write_text(path.read_text() + f"\n{forbidden_import}  # noqa\n")

    done = _lint(tree)

    assert done.returncode != 0
    broken = done.stdout[done.stdout.index("Broken contracts") :]
    assert contract in broken
