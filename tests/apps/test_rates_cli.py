"""``idex rates`` and ``idex pointing`` end to end: files in, L2B/L2C CDFs out, read back by ``idex.open``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import synthetic_l2
import xarray as xr
from click.testing import CliRunner

import idex
from idex.apps.cli import main
from idex.science.pointing import utc_to_tt2000

DATA = Path(__file__).parents[1] / "data"
SPICE = DATA / "spice"


def _events_file(path: Path) -> Path:
    values = synthetic_l2.events()
    epoch = values.pop("epoch")
    xr.Dataset({k: ("event", v) for k, v in values.items()}, coords={"epoch": ("event", epoch)}).to_netcdf(path)
    return path


def _message_cdf(path: Path, scenario: str = "first_on") -> Path:
    """An L1b-style message CDF (``epoch`` TT2000, ``science_on``), written with cdflib."""
    from cdflib.cdfwrite import CDF

    times, states = synthetic_l2.messages(scenario, with_previous=True)
    cdf = CDF(str(path), delete=True)
    cdf.write_globalattrs({"Logical_source": {0: "imap_idex_l1b_msg-10days"}})
    common = {"Num_Elements": 1, "Rec_Vary": True, "Dim_Sizes": []}
    cdf.write_var({"Variable": "epoch", "Data_Type": 33, **common}, var_attrs={}, var_data=utc_to_tt2000(times))
    cdf.write_var(
        {"Variable": "science_on", "Data_Type": 11, **common},
        var_attrs={"DEPEND_0": "epoch"},
        var_data=states.astype(np.uint8),
    )
    cdf.close()
    return path


def test_rates_command_writes_l2b_l2c_that_idex_opens(tmp_path: Path) -> None:
    events = _events_file(tmp_path / "events.nc")
    messages = _message_cdf(tmp_path / "imap_idex_l1b_msg-10days_20250609_v001.cdf")
    result = CliRunner().invoke(
        main,
        ["rates", str(events), "-m", str(messages), "-o", str(tmp_path / "out"), "--projection", "rectangular"]
        + ["--charge-edges", "0.1,1,10,100,1e4"],
    )
    assert result.exit_code == 0, result.output
    dust = int((synthetic_l2.events()["dust_hit_flag"][: synthetic_l2.N_EVENTS] == 1).sum())
    assert "4 duplicates removed" in result.output and f"2025-06-09: {dust} dust hits" in result.output
    l2b = idex.open(tmp_path / "out" / "imap_idex_l2b_sci-10days_20250609_v001.cdf")
    l2c = idex.open(tmp_path / "out" / "imap_idex_l2c_rectangular-map-10days_20250609_v001.cdf")
    assert l2b.sizes["impact_charge"] == 4
    assert l2b["counts"].dims == ("epoch", "spin_phase") and l2b["counts"].values.sum() == dust - len(
        synthetic_l2.NAN_PHASE
    )
    assert l2c["counts_map"].values.sum() == dust - len(synthetic_l2.NAN_DIRECTION)
    assert (tmp_path / "out" / "idex_dust_vs_orbit_20250609.png").is_file()
    assert l2b["on_seconds"].item() == pytest.approx((3.0 - 0.5 + 9.5 - 3.2) * 86400.0)


def test_maps_command_draws_rates_from_real_pointing_and_messages(tmp_path: Path) -> None:
    events = _events_file(tmp_path / "events.nc")
    messages = _message_cdf(tmp_path / "msg.cdf")
    args = ["maps", str(events), "-m", str(messages), "-o", str(tmp_path / "map.png"), "--projection", "rectangular"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2025-06-09 – 2025-06-19 (1 window)" in result.output and (tmp_path / "map.png").stat().st_size > 10_000


def test_rates_command_reports_messages_without_acquisition(tmp_path: Path) -> None:
    events = _events_file(tmp_path / "events.nc")
    official_msg = DATA / "imap_idex_l1a_msg-10days_20231214_v001.0001.cdf"  # real: commands only, no ACQ change
    result = CliRunner().invoke(main, ["rates", str(events), "-m", str(official_msg), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "imap_idex_l1a_msg-10days_20231214_v001.0001.cdf: no science-acquisition message" in result.output
    assert "rate nan /s" in result.output


def test_pointing_command_flags_events_the_kernels_do_not_cover(tmp_path: Path) -> None:
    capture = DATA / "imap_idex_l0_raw_20231214_v001.pkts"  # 2023: before the test kernels' 2025 coverage
    kernels = [str(p) for p in sorted(SPICE.iterdir()) if p.suffix in (".tls", ".tsc", ".tf", ".bsp", ".bc")]
    args = ["pointing", str(capture), *sum((["-k", k] for k in kernels), []), "-o", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "pointing incomplete for 14 of 14 events" in result.output
    ds = xr.open_dataset(tmp_path / "imap_idex_l0_raw_20231214_v001_pointed.nc")
    assert np.isnan(ds["longitude"].values).all() and (ds["pointing_flags"].values != 0).all()
    decoded = CliRunner().invoke(main, ["decode", str(capture), "-o", str(tmp_path / "e.cdf"), *args[2:-2]])
    assert decoded.exit_code == 0, decoded.output
    assert "pointing incomplete for 14 of 14 events" in decoded.output and "WARNING" not in decoded.output
    assert idex.open(tmp_path / "e.cdf")["spin_phase"].attrs["units"] == "Degrees"


def test_figures_have_the_window_events_and_on_time_in_their_titles(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from idex.apps import maps, rate_plots
    from idex.io.rate_products import rates

    values = synthetic_l2.events()
    epoch = values.pop("epoch")
    events = xr.Dataset({k: ("event", v) for k, v in values.items()}, coords={"epoch": ("event", epoch)})
    messages = xr.Dataset(
        {"science_on": ("message", [1])},
        coords={"epoch": ("message", np.array(["2025-06-01"], dtype="datetime64[ns]"))},
    )
    with pytest.warns(idex.exceptions.IdexWarning):
        out = rates(events, messages, windows="1D")
    dust = int((values["dust_hit_flag"][: synthetic_l2.N_EVENTS] == 1).sum())
    assert rate_plots.summary(out) == f"2025-06-09 – 2025-06-19 (10 windows): {dust} dust hits, 240.0 h of acquisition"
    for kind in ("mollweide", "rectangular"):
        rate_plots.render_rate_map(out, tmp_path / f"{kind}.png", projection=kind)
    rate_plots.render_spin_phase(out, tmp_path / "spin.png")
    rate_plots.render_orbit(out, tmp_path / "orbit.png")
    assert all((tmp_path / f"{n}.png").stat().st_size > 10_000 for n in ("mollweide", "rectangular", "spin", "orbit"))
    # the old sky map's longitude labels were black on the dark map: now white with a dark outline
    fig = plt.figure()
    ax = fig.add_subplot(111, projection="mollweide")
    rate_plots.readable_labels(ax)
    assert {label.get_color() for label in ax.get_xticklabels()} == {"white"}
    plt.close(fig)
    maps.render(maps.sky_map(*(np.array([10.0, 20.0]),) * 2), tmp_path / "sky.png")


def test_many_daily_files_give_the_same_rates_as_one_dataset(tmp_path: Path) -> None:
    from idex.io.rate_products import rates
    from idex.opening import open_products

    values = synthetic_l2.events()
    epoch = values.pop("epoch")
    events = xr.Dataset({k: ("event", v) for k, v in values.items()}, coords={"epoch": ("event", epoch)})
    day = (epoch - epoch[0].astype("datetime64[D]")).astype("timedelta64[D]").astype(int)
    files = []
    for d in np.unique(day):  # one file per day, as the daily products
        part = events.isel(event=np.flatnonzero(day == d))
        files.append(tmp_path / f"day_{d:02d}.nc")
        part.assign_coords(event=np.arange(part.sizes["event"])).to_netcdf(files[-1])
    messages = _message_cdf(tmp_path / "msg.cdf")
    with pytest.warns(idex.exceptions.IdexWarning):
        lazy = open_products(files)
    assert lazy["spin_phase"].chunks is not None  # dask: nothing read yet
    with pytest.warns(idex.exceptions.IdexWarning):
        many = rates(lazy, messages, windows="10d")
        one = rates(events, messages, windows="10d")
    assert many.sizes["epoch"] == one.sizes["epoch"] == 1
    for name in ("counts", "counts_map", "counts_by_charge", "on_seconds", "rate"):
        np.testing.assert_array_equal(many[name].values, one[name].values)


def test_batch_adds_pointing_with_kernels(tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "Data"
    data.mkdir()
    shutil.copy(DATA / "imap_idex_l0_raw_20231214_v001.pkts", data)
    kernels = [str(p) for p in sorted(SPICE.iterdir()) if p.suffix in (".tls", ".tsc", ".tf", ".bsp", ".bc")]
    args = ["batch", str(data), "-o", str(tmp_path / "out"), "-j", "1", *sum((["-k", k] for k in kernels), [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(tmp_path / "out" / "imap_idex_l0_raw_20231214_v001.pkts.nc")
    assert "longitude" in ds and (ds["pointing_flags"].values != 0).all()  # 2023: outside the 2025 test kernels
