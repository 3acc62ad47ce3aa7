"""The layers of ``docs/architecture.md`` hold: checked by import-linter's contract in ``pyproject.toml``.

The contract covers every import, including those inside functions (the lazy ones that keep start-up
short). A copy of the package with one upward import planted in it must break the contract, so the
check is known to bite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "idex"
MAX_LINES = 450  # "no module over ~400 lines"


def lint_imports(cwd: Path, package_parent: Path) -> subprocess.CompletedProcess:
    command = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    environment = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [command, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


def test_layer_contract_is_kept():
    result = lint_imports(ROOT, ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("idex/decode/fields.py", "from idex.fit.engine import levenberg_marquardt"),  # decode -> fit
        ("idex/model/timing.py", "    from idex.decode.raw import open_raw"),  # a lazy import counts too
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward):
    shutil.copytree(PACKAGE, tmp_path / "idex", ignore=shutil.ignore_patterns("__pycache__"))
    planted = tmp_path / module
    text = planted.read_text()
    if upward.startswith(" "):  # inside a function
        text += f"\n\ndef _planted():\n{upward}\n    return open_raw\n"
    else:
        future = "from __future__ import annotations\n"
        text = text.replace(future, f"{future}\n{upward}\n", 1)
    planted.write_text(text)
    result = lint_imports(tmp_path, tmp_path)
    assert result.returncode != 0
    assert "0 kept, 1 broken" in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout


def test_no_module_is_long():
    lengths = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


FRONT = ("apps", "accessor.py", "opening.py", "backend.py", "_registration.py", "__init__.py", "testing.py")
"""Where ``ds.idex`` may be used: the public front and the applications above it (``idex/__init__.py`` and
``idex/testing.py`` only in doctests, which are not code)."""


def accessor_uses(source: str) -> list[int]:
    """Lines of ``source`` that reach the ``ds.idex`` accessor (``x.idex`` or ``getattr(x, "idex")``), docstrings aside.

    Import-linter cannot see these: they depend on ``import idex`` having registered the accessor, an upward
    coupling from the layer below the front to the front.
    """
    import ast

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "idex":
            lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value == "idex"
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_no_accessor_use_below_the_front():
    below = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in FRONT]
    uses = {p.relative_to(ROOT).as_posix(): found for p in below if (found := accessor_uses(p.read_text()))}
    assert uses == {}


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param("t = ds.idex.time('tof_high')", id="method"),
        pytest.param("accessor = ds.idex", id="attribute"),
        pytest.param("accessor = getattr(ds, 'idex')", id="getattr"),
    ],
)
def test_a_planted_accessor_use_is_found(planted):
    source = (PACKAGE / "science" / "snr.py").read_text() + f"\n\ndef _planted(ds):\n    {planted}\n"
    assert accessor_uses(source) == [len(source.splitlines())]
    assert accessor_uses('"""ds.idex.time() in a docstring is prose."""') == []
