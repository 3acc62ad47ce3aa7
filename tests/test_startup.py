"""Start-up: what a fresh process imports (no timing here; ``benchmarks/startup.py`` measures it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("xarray", "numpy", "numba", "scipy", "pandas", "matplotlib", "cdflib", "netCDF4", "dask")


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


HELP = "import idex.apps.cli, sys; sys.argv = ['idex', {command}]\ntry: idex.apps.cli.main()\nexcept SystemExit: pass"


@pytest.mark.parametrize(
    "code",
    [
        "import idex",
        HELP.format(command="'--help'"),
        HELP.format(command="'decode', '--help'"),
    ],
)
def test_import_and_help_load_nothing_heavy(code):
    loaded = _modules_after(code)
    assert not [name for name in HEAVY if name in loaded]


@pytest.mark.parametrize("order", ["import idex\nimport xarray as xr", "import xarray as xr\nimport idex"])
def test_accessor_is_registered_whatever_the_import_order(order):
    code = (
        f"{order}\nds = xr.Dataset({{'quality_flags': ('event', [0, 8])}})\nprint(ds.idex.flagged(8).values.tolist())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[False, True]"


def test_decoding_loads_no_fitting_or_plotting():
    loaded = _modules_after("import idex\nidex.open_raw(idex.testing.sample_capture())")
    assert "xarray" in loaded and "idex.accessor" in loaded
    assert not {"matplotlib", "lmfit", "idex.fit.engine", "idex.fit.events", "cdflib"} & loaded


def test_public_names_resolve_lazily():
    import idex

    for name in idex.__all__:
        assert getattr(idex, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        idex.nope  # noqa: B018


HIDE_DASK = "import sys\nsys.modules['dask'] = sys.modules['distributed'] = None  # as if not installed\n"


def test_decode_runs_without_dask_and_imports_none_of_it(tmp_path):
    out = tmp_path / "events.nc"
    loaded = _modules_after(
        f"{HIDE_DASK}import idex.apps.cli\nsys.argv = ['idex', 'decode', {str(_capture())!r}, '-o', {str(out)!r}]\n"
        "try: idex.apps.cli.main()\nexcept SystemExit as exit: assert not exit.code, exit.code"
    )
    assert out.is_file()
    assert not {name for name in loaded if name.startswith(("dask.", "distributed."))}  # the two hidden: None


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("idex.open_products(idex.testing.sample_capture())", id="open_products"),
        pytest.param("from idex.extras import require\nrequire('distributed', 'idex batch --scheduler')", id="require"),
    ],
)
def test_a_feature_needing_dask_names_the_extra(code):
    script = (
        f"{HIDE_DASK}import idex\ntry:\n    {code.replace(chr(10), chr(10) + '    ')}\n"
        "except idex.exceptions.MissingExtraError as error:\n    print(error)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("which is not installed: pip install 'idex[dask]'")
    assert len(result.stdout.strip().splitlines()) == 1


def _capture():
    import idex

    return idex.testing.sample_capture()
