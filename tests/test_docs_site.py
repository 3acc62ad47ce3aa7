"""The documentation site builds with warnings as errors: guides, the API reference generated from the
docstrings, and the gallery examples executed with their figures (``docs/conf.py``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_site_builds_without_warnings(tmp_path):
    source = tmp_path / "docs"  # a copy: the build writes generated pages next to its sources
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated", "auto_examples"))
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                             str(source), str(tmp_path / "html")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-5000:]
    html = tmp_path / "html"
    for page in ["index", "architecture", "model", "api", "generated/idex.open_raw",
                 "generated/idex.accessor.IdexDatasetAccessor.fit", "auto_examples/plot_fit_impact"]:
        assert (html / f"{page}.html").is_file(), page
    figures = sorted(p.name for p in (html / "_images").glob("sphx_glr_plot_*_001.png"))
    assert figures == ["sphx_glr_plot_decode_capture_001.png", "sphx_glr_plot_fit_impact_001.png",
                       "sphx_glr_plot_mass_spectrum_001.png"]
    reference = (html / "generated" / "idex.open_raw.html").read_text()
    assert "Decode a raw IDEX capture" in reference and "Parameters" in reference
