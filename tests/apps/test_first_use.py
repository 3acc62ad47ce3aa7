"""First use: the first command says why it is slow (kernels compiling once), and `idex warmup` compiles them ahead."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import CAPTURE_2023_12

from idex.apps import warmup
from idex.apps.cli import main
from idex.apps.warmup import kernels_cached


def test_a_cold_cache_is_detected_and_announced(tmp_path, monkeypatch):
    # numba fixes a kernel's cache folder when its module is imported: an empty one stands for a fresh install
    monkeypatch.setattr(warmup, "_cache_dirs", lambda packages: [tmp_path / "empty" for _ in packages])
    assert not kernels_cached()
    result = CliRunner().invoke(main, ["decode", str(CAPTURE_2023_12), "-o", str(tmp_path / "x.nc")])
    assert result.exit_code == 0, result.output
    assert "first use: compiling idex's kernels once" in result.output and "idex warmup" in result.output


def test_a_warm_cache_says_nothing(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["warmup"]).exit_code == 0  # compiles, or loads what is compiled
    assert kernels_cached()
    result = runner.invoke(main, ["decode", str(CAPTURE_2023_12), "-o", str(tmp_path / "x.nc")])
    assert result.exit_code == 0 and "first use" not in result.output


def test_the_cache_folders_are_numbas_own():
    from idex.fit.engine import _fit_rows

    assert warmup._cache_dirs(("fit",)) == [Path(_fit_rows._cache._cache_path)]


def test_after_decoding_a_clean_capture_warmup_still_compiles_the_scan(tmp_path, monkeypatch):
    # a clean capture is framed without the compiled scan: its kernel folder holds the unpacking kernel only
    (tmp_path / "waveform._kernel.locals.unpack-47.py311.nbi").touch()
    monkeypatch.setattr(warmup, "_cache_dirs", lambda packages: [tmp_path for _ in packages])
    assert kernels_cached(("decode",)) and not kernels_cached(("scan",)) and not kernels_cached()
