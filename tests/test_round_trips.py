"""Every door opens: each writer x each reader x decoded, fitted and mass-calibrated event models, and every
command that takes files on every file a command writes. Each works with the values intact or refuses with one
clear line and a non-zero exit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import idex
from idex.apps.cli import main
from idex.exceptions import CalibrationWarning, ProductError
from idex.io import to_file

WRITERS = {
    "netcdf": lambda ds, folder: to_file(ds, folder / "events.nc"),
    "hdf5": lambda ds, folder: to_file(ds, folder / "events.h5"),
    "cdf": lambda ds, folder: ds.to_cdf(folder / "events.cdf"),
    "official-cdf": lambda ds, folder: ds.to_cdf(folder / "official.cdf", profile="official"),
    "csv": lambda ds, folder: to_file(ds, folder / "events.csv"),
    "l2a-cdf": lambda ds, folder: _l2a(ds, folder / "l2a.cdf"),
}


def _l2a(ds, path):
    """The mission's L2A product (fitting first when needed; the shipped velocity curves are test parameters)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return ds.to_cdf(path, profile="l2a")


READERS = {
    "idex.open": idex.open,
    "xarray-engine": lambda path: xr.open_dataset(path, engine="idex").load(),
}
STAGES = ("decoded", "fitted", "mass")


@pytest.fixture(scope="module")
def models(events_2023_12):
    fitted = events_2023_12.idex.fit(merge=True, curves=True)
    return {"decoded": events_2023_12, "fitted": fitted, "mass": fitted.idex.mass()}


def assert_intact(back: xr.Dataset, original: xr.Dataset, names: list[str] | None = None) -> None:
    """Every variable and coordinate of ``original`` (or ``names``) is in ``back`` with the same dimensions, dtype
    and values."""
    for name in names or list(original.variables):
        variable = original[name]
        assert name in back.variables, f"{name} lost"
        got = back[name]
        assert got.dims == variable.dims, name
        if variable.dtype.kind == "U":
            assert got.values.tolist() == variable.values.tolist(), name
            continue
        assert got.dtype == variable.dtype, (name, got.dtype, variable.dtype)
        np.testing.assert_array_equal(got.values, variable.values, err_msg=name)
        assert got.attrs.get("units") == variable.attrs.get("units"), name


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("stage", STAGES)
def test_every_writer_every_reader(tmp_path, models, stage, writer, reader):
    original = models[stage]
    path = WRITERS[writer](original, tmp_path)
    if writer == "csv":  # an export for spreadsheets: refused with its reason, by name
        with pytest.raises(ProductError, match="CSV"):
            READERS[reader](path)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", idex.exceptions.IdexWarning)
        back = READERS[reader](path)
    if writer == "official-cdf":  # the mission's L1a subset: waveforms, header fields, times
        from idex.io.official import profile

        carried = {entry["source"] for entry in profile()["variables"].values() if "source" in entry}
        core = [name for name in original.data_vars if name in back and name in carried]
        assert {"tof_high", "target_low", "ion_grid", "blocks"} <= set(core)
        assert_intact(back, original, core)
        return
    if writer == "l2a-cdf":  # the mission's L2A: per-event fits, charges, velocities, masses and the event flags
        assert back.attrs["official_logical_source"] == "imap_idex_l2a_sci-10days"
        assert np.abs(back["epoch"].values - original["epoch"].values).max() <= np.timedelta64(1, "us")
        fitted = [c for c in ("target_low", "target_high", "ion_grid") if f"{c}_fit_status" in original]
        core = ["dust_hit_flag", *(f"{c}_fit_{p}" for c in fitted for p in ("status", "rise_time", "significance"))]
        for name in core:
            np.testing.assert_array_equal(back[name].values, original[name].values, err_msg=name)
        return
    assert_intact(back, original)
    assert back.attrs["idex_schema"] == original.attrs["idex_schema"]


def test_analysis_is_idempotent(models):
    """Refitting replaces the earlier fit (same numbers), mass() twice is mass() once."""
    fitted = models["fitted"]
    xr.testing.assert_identical(fitted.idex.fit(merge=True, curves=True), fitted)
    xr.testing.assert_identical(models["mass"].idex.mass(), models["mass"])


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def written(tmp_path_factory, models):
    """Every file the commands write for one capture: decoded and fitted netCDF/HDF5/CDF, the official CDF, CSV."""
    folder = tmp_path_factory.mktemp("written")
    files = {}
    for stage in ("decoded", "fitted"):
        for writer in WRITERS:
            sub = folder / f"{stage}-{writer}"
            sub.mkdir()
            files[f"{stage}-{writer}"] = WRITERS[writer](models[stage], sub)
    return files


COMMANDS = {
    "fit": lambda path, out: ("fit", path, "-o", out / "refit.nc"),
    "quicklook": lambda path, out: ("quicklook", path, "-o", out / "plots", "--events", "1,7"),
    "table": lambda path, out: ("table", path, "-o", out / "table.csv"),
    "snr": lambda path, out: ("snr", path, "-o", out / "snr", "--no-fit"),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "kind",
    [
        "decoded-netcdf",
        "decoded-hdf5",
        "decoded-cdf",
        "decoded-official-cdf",
        "fitted-netcdf",
        "fitted-cdf",
        "decoded-csv",
        "fitted-l2a-cdf",
    ],
)
def test_every_command_on_every_written_file(tmp_path, written, command, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        result = invoke(*COMMANDS[command](written[kind], tmp_path))
    if kind.endswith("csv"):
        assert result.exit_code == 1 and "CSV" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
        return
    if kind.endswith("l2a-cdf") and command != "table":  # per-event values only: no waveforms to fit or plot
        assert result.exit_code == 1 and "L2A product" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
        return
    assert result.exit_code == 0, result.output
    if command == "fit":
        refit = idex.open(tmp_path / "refit.nc")
        assert refit.sizes["event"] == 14 and "target_low_fit_status" in refit
    if command == "table":
        table = np.loadtxt(tmp_path / "table.csv", delimiter=",", skiprows=1, usecols=1)
        assert table.size == 14


def test_the_viewer_loads_every_written_file(written):
    from idex.apps.view.data import load

    for kind, path in written.items():
        if kind.endswith(("csv", "l2a-cdf")):  # a spreadsheet export, per-event values: nothing to view
            with pytest.raises(ProductError):
                load(path)
            continue
        opened = load(path)
        assert opened.events.sizes["event"] == 14 and "quality_flags" in opened.events, kind


def test_batch_outputs_feed_every_command(tmp_path, bytes_2023_12):
    data = tmp_path / "Data"
    data.mkdir()
    (data / "run.pkts").write_bytes(bytes_2023_12)
    assert invoke("batch", data, "-o", tmp_path / "out", "--fit", "--format", "nc,cdf", "-j", "1").exit_code == 0
    for suffix in ("nc", "cdf"):
        product = tmp_path / "out" / f"run.pkts.{suffix}"
        assert idex.open(product)["target_low_fit_status"].sizes["event"] == 14
        assert invoke("table", product, "-o", tmp_path / f"{suffix}.csv").exit_code == 0


def test_not_telemetry_is_refused(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("shift log: beam on at 10:04\n")
    result = invoke("decode", notes, "-o", tmp_path / "out.nc")
    assert result.exit_code == 1 and "not" in result.output and not (tmp_path / "out.nc").exists()
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 10)
    result = invoke("decode", garbage, "-o", tmp_path / "out.nc")
    assert result.exit_code == 1 and "no CCSDS packet" in result.output


def test_cli_messages_name_cli_flags(tmp_path, written):
    target = tmp_path / "exists.nc"
    target.write_bytes(b"x")
    result = invoke("decode", idex.testing.sample_capture(), "-o", target)
    assert result.exit_code == 1 and "--overwrite" in result.output
    result = invoke("decode", idex.testing.sample_capture(), "-o", tmp_path / "x.nc", "--schema", "science_2099")
    assert result.exit_code == 1 and "no such schema file" in result.output
    result = invoke("quicklook", written["decoded-netcdf"], "-o", tmp_path / "q", "--events", "99")
    assert result.exit_code != 0 and "--events" in result.output and "no event 99" in result.output
