"""The documentation site builds with warnings as errors: guides, the API reference generated from the
docstrings (every module, with ``nitpicky`` on, so a reference to nothing is an error), and the gallery
examples executed with their figures (``docs/conf.py``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def build(tmp_path: Path, planted: str = "") -> tuple[subprocess.CompletedProcess, Path]:
    """Build a copy of the site (the build writes generated pages next to its sources), with ``planted``
    appended to its index page."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    if planted:
        (source / "index.md").write_text((source / "index.md").read_text() + planted)
    html = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", str(source), str(html)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result, html


def test_site_builds_without_warnings(tmp_path):
    result, html = build(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    for page in [
        "index",
        "architecture",
        "model",
        "api",
        "generated/idex.decode.raw",
        "generated/idex.accessor",
        "generated/idex.fit.engine",
        "auto_examples/plot_fit_impact",
    ]:
        assert (html / f"{page}.html").is_file(), page
    figures = sorted(p.name for p in (html / "_images").glob("sphx_glr_plot_*_001.png"))
    assert figures == [
        "sphx_glr_plot_decode_capture_001.png",
        "sphx_glr_plot_fit_impact_001.png",
        "sphx_glr_plot_mass_spectrum_001.png",
    ]
    reference = (html / "generated" / "idex.decode.raw.html").read_text()
    assert "Decode a raw IDEX capture" in reference and "Parameters" in reference


def test_a_broken_reference_fails_the_build(tmp_path):
    result, _ = build(tmp_path, "\nSee {py:func}`idex.decode.raw.open_raws`.\n")
    assert result.returncode != 0
    assert "idex.decode.raw.open_raws" in result.stderr
