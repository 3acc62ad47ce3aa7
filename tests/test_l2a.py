"""The L2A profile both ways, and idex's per-event values side by side with the mission pipeline's ``idex_l2a``.

Oracle: ``tests/data/imap_idex_l2a_sci-10days_20231214_v001.cdf``, written by imap-processing 1.0.40 from the
bundled official L1b with the calibration curves of its published unit tests (``tests/oracles/l2a_official.py``),
the same curves as ``defs/velocity_calibration.yaml``.
"""

from __future__ import annotations

import dataclasses
import warnings

import cdflib
import numpy as np
import pytest
from conftest import DATA

import idex
from idex.exceptions import CalibrationWarning, ProductError
from idex.fit.events import fit_arrays
from idex.fit.models import impact_peak
from idex.io.l2a import profile
from idex.model.quality import FitStatus
from idex.science.velocity import load_calibration

L2A = DATA / "imap_idex_l2a_sci-10days_20231214_v001.cdf"
L1B = DATA / "imap_idex_l1b_sci-10days_20231214_v001.0001.cdf"
CHANNELS = {"target_low": "Target_Low", "target_high": "Target_High", "ion_grid": "Ion_Grid"}
K = 5


@pytest.fixture(scope="module")
def official():
    cdf = cdflib.CDF(str(L2A))
    values = {name: cdf.varget(name) for name in cdf.cdf_info().zVariables}
    return {name: np.where(v == -1e31, np.nan, v) if v.dtype.kind == "f" else v for name, v in values.items()}


def test_official_l2a_opens_as_the_event_model(official):
    ds = idex.open(L2A)
    assert ds.sizes["event"] == 14 and ds.attrs["official_logical_source"] == "imap_idex_l2a_sci-10days"
    for channel in CHANNELS:
        np.testing.assert_array_equal(ds[f"{channel}_impact_charge"].values, official[f"{channel}_impact_charge"])
        np.testing.assert_array_equal(
            ds[f"{channel}_fit_rise_time"].values, official[f"{channel}_fit_parameters"][:, 3]
        )
        assert ds[f"{channel}_fit_results"].dims == ("event", "sample_low")
        assert ds[f"{channel}_dust_mass_estimate"].attrs["units"] == "Kg"  # the mission's spelling, kept
    assert ds["fit_parameter"].values.tolist() == profile()["fit_parameter_labels"]
    for flag in profile()["flags"]:
        np.testing.assert_array_equal(ds[flag].values, official[flag])


def test_l2a_profile_round_trip(events_2023_12, tmp_path):
    """idex writes the L2A names, dimensions, units and ISTP attributes of the mission's product (its ten flags
    copied) and reads its own file back with the same values, its fit status and significance included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        values = events_2023_12.idex.l2a()
        path = values.to_cdf(tmp_path / "out.cdf", profile="l2a")
    written = cdflib.CDF(str(path))
    for name, entry in profile()["variables"].items():
        assert written.varinq(name).Data_Type_Description == entry["cdf_type"], name
        attrs = written.varattsget(name)
        for key in ("UNITS", "DEPEND_0", "DEPEND_1", "LABL_PTR_1", "CATDESC"):
            assert (key in attrs) == (key in entry["attrs"]), (name, key)
    assert written.varget("target_fit_parameter_labels").tolist() == profile()["fit_parameter_labels"]
    back = idex.open(path)
    for channel in CHANNELS:
        for output in (
            "impact_charge",
            "velocity_estimate",
            "dust_mass_estimate",
            "chi_squared",
            "fit_status",
            "fit_significance",
            "fit_parameters",
            "fit_results",
        ):
            np.testing.assert_array_equal(back[f"{channel}_{output}"].values, values[f"{channel}_{output}"].values)
    np.testing.assert_array_equal(back["dust_hit_flag"].values, events_2023_12["dust_hit_flag"].values)
    for name in ("tof_impact_charge", "tof_impact_charge_stderr", "tof_impact_charge_status"):  # beside the targets'
        np.testing.assert_array_equal(back[name].values, values[name].values)


def test_not_an_l2a_file_is_named(tmp_path):
    bad = tmp_path / "imap_idex_l2a_sci-10days_20231214_v001.cdf"
    bad.write_bytes(L2A.read_bytes()[:5000])
    with pytest.raises(ProductError, match=bad.name):
        idex.open(bad)


def _mission_target(official, row):
    """The mission's choice of target charge for the ion-grid ratio: Target High unless saturated or missing."""
    high = official["target_high_impact_charge"][row]
    if official["target_high_saturation_flag"][row] == 0 and np.isfinite(high):
        return high
    return official["target_low_impact_charge"][row] if official["target_low_saturation_flag"][row] == 0 else np.nan


def test_same_fit_same_charge_velocity_and_mass(official):
    """Given the mission's own fit parameters, idex's charge (analytic maximum), rise-time velocity, ion-grid
    velocity and masses (kg) reproduce every value of the mission's L2A to 1e-6 relative (NaN where it is NaN)."""
    calibration = load_calibration()
    compared = 0
    for channel in CHANNELS:
        parameters = official[f"{channel}_fit_parameters"]
        charge = np.abs(impact_peak(parameters)[1])
        mission = official[f"{channel}_impact_charge"]
        np.testing.assert_allclose(charge, mission, rtol=1e-6)
        if channel == "ion_grid":
            target = np.array([_mission_target(official, row) for row in range(len(charge))])
            velocity = calibration.ion_grid_velocity(charge, target)
            mass = calibration.mass(target, velocity)
        else:
            velocity = calibration.velocity_from_rise_time(parameters[:, 3])
            mass = calibration.mass(charge, velocity)
        np.testing.assert_allclose(velocity, official[f"{channel}_velocity_estimate"], rtol=1e-6)
        np.testing.assert_allclose(mass, official[f"{channel}_dust_mass_estimate"], rtol=1e-6)
        compared += np.isfinite(velocity).sum()
    assert compared >= 4  # the ion-grid velocities and masses are finite for four events


@pytest.fixture(scope="module")
def side_by_side(official):
    """idex's fit of every L1b waveform (every record, whatever its evidence) next to the mission's."""
    l1b = cdflib.CDF(str(L1B))
    t = l1b.varget("time_low_sample_rate")
    specs = idex.load_schema("science_2023_12").fits
    rows = []
    for channel, name in CHANNELS.items():
        spec = dataclasses.replace(specs[channel], false_alarm_probability=1.0)
        out = fit_arrays(t, l1b.varget(name), spec)
        lower, upper = np.array([p.min for p in spec.parameters]), np.array([p.max for p in spec.parameters])
        for row in range(out.shape[0]):
            theirs = official[f"{channel}_fit_parameters"][row]
            rows.append(
                {
                    "channel": channel,
                    "row": row,
                    "status": FitStatus(int(out[row, 2 * K + 2])).name.lower(),
                    "idex_chi2": out[row, 2 * K],
                    "mission_chi2": official[f"{channel}_chi_squared"][row],
                    "idex_charge": abs(out[row, 2 * K + 5]),
                    "mission_charge": abs(impact_peak(theirs[None])[1][0]),
                    "mission_inside_bounds": bool(np.all((theirs >= lower) & (theirs <= upper))),
                }
            )
    return rows


def test_where_the_fits_differ_idex_is_lower_or_says_why(side_by_side):
    """Same optimum (χ² within 1e-7): the charges agree to the precision the optimum is determined. Elsewhere
    idex's χ² is lower, or the mission's optimum lies outside idex's parameter bounds (a discharge time of
    years: idex says at_bound), or idex does not call its fit a success. The table is printed."""
    same, lower, outside, unclaimed, worse = [], [], [], [], []
    print(
        f"\n{'channel':>12} {'row':>3} {'idex status':>14} {'idex chi2':>14} {'mission chi2':>14} {'rel':>9} "
        f"{'idex Q':>11} {'mission Q':>11}"
    )
    for r in side_by_side:
        rel = (r["idex_chi2"] - r["mission_chi2"]) / r["mission_chi2"]
        print(
            f"{r['channel']:>12} {r['row']:3d} {r['status']:>14} {r['idex_chi2']:14.8g} {r['mission_chi2']:14.8g} "
            f"{rel:+9.1e} {r['idex_charge']:11.5g} {r['mission_charge']:11.5g}"
        )
        if abs(rel) <= 1e-7:
            same.append(abs(r["idex_charge"] - r["mission_charge"]) / r["mission_charge"])
        elif rel < 0:
            lower.append(r)
        elif not r["mission_inside_bounds"]:
            outside.append(r)
        elif r["status"] != "converged":
            unclaimed.append(r)
        else:
            worse.append(r)
    print(
        f"same optimum {len(same)}, idex lower {len(lower)}, mission outside idex's bounds {len(outside)}, "
        f"idex higher and not a success {len(unclaimed)}, idex converged higher {len(worse)}"
    )
    assert len(same) >= 9 and max(same) < 2e-4
    assert len(lower) >= 15
    assert len(worse) <= 1  # 2023-12-14 ion grid row 10: a second local optimum 3e-4 lower, documented


@pytest.mark.filterwarnings("ignore::idex.exceptions.CalibrationWarning")
def test_fit_command_writes_the_l2a_profile(tmp_path):
    from click.testing import CliRunner
    from conftest import CAPTURE_2023_12

    from idex.apps.cli import main

    out = tmp_path / "l2a.cdf"
    result = CliRunner().invoke(main, ["fit", str(CAPTURE_2023_12), "-o", str(out), "--profile", "l2a"])
    assert result.exit_code == 0, result.output
    assert idex.open(out).attrs["official_logical_source"] == "imap_idex_l2a_sci-10days"
    wrong = CliRunner().invoke(main, ["fit", str(CAPTURE_2023_12), "-o", str(tmp_path / "x.nc"), "--profile", "l2a"])
    assert wrong.exit_code != 0 and "not a .cdf" in wrong.output


def test_table_carries_the_l2a_columns(events_2023_12, tmp_path):
    """`idex table` over L2A files (the mission's and idex's): one row per event with every per-event L2A value,
    and idex's fit status and significance where the file has them."""
    from idex.apps.table import combine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        ours = events_2023_12.to_cdf(tmp_path / "ours.cdf", profile="l2a")
    frame = combine([ours])
    for channel in CHANNELS:
        for output in (
            "impact_charge",
            "velocity_estimate",
            "dust_mass_estimate",
            "chi_squared",
            "fit_status",
            "fit_significance",
            "fit_rise_time",
        ):
            assert f"{channel}_{output}" in frame, (channel, output)
    assert len(frame) == 14 and "target_low_impact_charge" in combine([L2A])


@pytest.mark.filterwarnings("ignore::idex.exceptions.CalibrationWarning")
def test_ion_grid_velocity_only_inside_the_calibrated_ratio_range():
    """Wall impacts give ion-grid / target ratios the law was never calibrated for: NaN with a status saying so,
    never an extrapolated speed (the mission's issue 3462)."""
    import xarray as xr

    from idex.science.velocity import estimate

    ion = np.array([0.5, 0.5, 0.001, 2.0])  # ratios 0.05 (inside), no target fit, 1e-4 and 0.2 with a failed ion fit
    target = np.array([10.0, np.nan, 10.0, 10.0])
    fits = xr.Dataset(
        {
            "ion_grid_impact_charge": ("event", ion),
            "ion_grid_fit_success": ("event", np.array([True, True, True, False])),
            "target_high_impact_charge": ("event", target),
            "target_high_fit_success": ("event", np.isfinite(target)),
        },
        coords={"event": np.arange(4)},
    )
    out = estimate(fits)
    assert out["ion_grid_velocity_status"].values.tolist() == [0, 1, 2, 1]
    velocity = out["ion_grid_velocity"].values
    assert np.isfinite(velocity[0]) and np.isnan(velocity[1:]).all()
    assert out["ion_grid_velocity_status"].attrs["ratio_range"] == [0.01, 1.0]
