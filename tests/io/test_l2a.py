"""The L2A profile both ways, and idex's per-event values side by side with the mission pipeline's ``idex_l2a``.

Oracle: ``tests/data/imap_idex_l2a_sci-10days_20231214_v001.cdf``, written by imap-processing 1.0.40 from the
bundled official L1b with the calibration curves of its published unit tests (``tests/oracles/l2a_official.py``),
the same curves as ``defs/velocity_calibration.yaml``.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import cdflib
import numpy as np
import pytest
import xarray as xr
from conftest import DATA

import idex
from idex.exceptions import CalibrationWarning, ProductError
from idex.fit.columns import FitColumns
from idex.fit.events import fit_arrays
from idex.fit.models import MODELS, impact_peak
from idex.io.l2a import profile
from idex.model.quality import FitStatus
from idex.science.velocity import load_calibration

L2A = DATA / "imap_idex_l2a_sci-10days_20231214_v001.cdf"
L1B = DATA / "imap_idex_l1b_sci-10days_20231214_v001.0001.cdf"
CHANNELS = {"target_low": "Target_Low", "target_high": "Target_High", "ion_grid": "Ion_Grid"}
COLUMNS = FitColumns(MODELS["impact"].parameters)  # of fit_arrays' rows


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


def _charge_stderr(t, parameters, redchi):
    """Standard error of the impact charge |peak height| from the fit's covariance (reduced-χ²-scaled, as lmfit)."""
    model = MODELS["impact"]
    jac = model.jacobian(t[None], parameters[None])[0]
    covariance = np.linalg.pinv(jac.T @ jac) * redchi
    step = 1e-6 * np.maximum(np.abs(parameters), 1e-6)
    shifted = parameters[None] + np.diag(step)
    gradient = (impact_peak(shifted)[1] - impact_peak(parameters[None])[1]) / step
    return float(np.sqrt(max(gradient @ covariance @ gradient, 0.0)))


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
            outside = [
                f"{label} {value:.3g}"
                for label, value, low, high in zip(profile()["fit_parameter_labels"], theirs, lower, upper, strict=True)
                if not low <= value <= high
            ]
            rows.append(
                {
                    "channel": channel,
                    "row": row,
                    "status": FitStatus(int(out[row, COLUMNS["status"]])).name.lower(),
                    "idex_chi2": out[row, COLUMNS["chisqr"]],
                    "mission_chi2": official[f"{channel}_chi_squared"][row],
                    "redchi": out[row, COLUMNS["redchi"]],
                    "idex_charge": abs(out[row, COLUMNS["peak_height"]]),
                    "charge_stderr": _charge_stderr(t[row], out[row, COLUMNS.values], out[row, COLUMNS["redchi"]]),
                    "mission_charge": abs(impact_peak(theirs[None])[1][0]),
                    "mission_outside": ", ".join(outside),
                    "idex_parameters": out[row, COLUMNS.values],
                    "mission_parameters": theirs,
                    "t": t[row],
                    "y": l1b.varget(name)[row].astype(np.float64),
                }
            )
    return rows


def test_where_the_fits_differ_idex_is_lower_or_says_why(side_by_side):
    """χ² compared in units of the noise variance (Δχ² / reduced χ²): below 0.01 both fits are the same optimum
    (their parameters differ by less than 0.1 standard error), and their charges differ by less than 0.1 of the
    charge's standard error. Elsewhere idex's χ² is lower, or the mission's optimum lies outside idex's parameter
    bounds (a discharge time of a minute, a rise of milliseconds on a 126 µs record: idex says at_bound). Never is
    idex's χ² higher: not even on a weak pulse whose onset χ² kinks at every sample (target high row 12, whose flat
    onset valley holds a local minimum in every cell; :mod:`idex.fit.onset` scans the cells nearby). The table is
    printed."""
    same, lower, outside, worse = [], [], [], []
    print(
        f"\n{'channel':>12} {'row':>3} {'idex status':>14} {'idex chi2':>12} {'mission chi2':>12} {'dchi2/s2':>9} "
        f"{'idex Q':>10} {'mission Q':>10} {'dQ/Q':>8} {'dQ/sQ':>8}  mission outside idex's bounds"
    )
    for r in side_by_side:
        delta = (r["idex_chi2"] - r["mission_chi2"]) / r["redchi"]
        difference = r["idex_charge"] - r["mission_charge"]
        print(
            f"{r['channel']:>12} {r['row']:3d} {r['status']:>14} {r['idex_chi2']:12.7g} {r['mission_chi2']:12.7g} "
            f"{delta:+9.1e} {r['idex_charge']:10.5g} {r['mission_charge']:10.5g} "
            f"{difference / r['mission_charge']:+8.1e} {difference / r['charge_stderr']:+8.1e}  {r['mission_outside']}"
        )
        if abs(delta) < 0.01:
            same.append(r)
        elif delta < 0:
            lower.append(r)
        elif r["mission_outside"]:
            outside.append(r)
        else:
            worse.append(r)
    print(
        f"same optimum {len(same)}, idex lower {len(lower)}, mission outside idex's bounds {len(outside)}, "
        f"idex higher {len(worse)}"
    )
    assert not worse
    assert len(same) >= 10 and len(lower) >= 20 and len(outside) <= 5
    for r in same:  # the charge is determined only to its standard error; both optima lie well inside it
        assert abs(r["idex_charge"] - r["mission_charge"]) < 0.1 * r["charge_stderr"], r
    converged = [r for r in same if r["status"] == "converged"]
    assert len(converged) >= 9
    assert max(abs(r["idex_charge"] / r["mission_charge"] - 1) for r in converged) < 2e-4


def _exact_optimum(t, y, start):
    """The optimum nearest ``start``, located by SciPy's MINPACK Levenberg–Marquardt at tolerances near machine
    precision (an optimiser independent of idex's), with its χ²."""
    from scipy.optimize import least_squares

    def residual(p):
        return MODELS["impact"].function(t[None], p[None])[0] - y

    found = least_squares(residual, start, method="lm", x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15)
    return found.x, float(np.sum(found.fun**2))


def test_same_optimum_same_charge_velocity_and_mass(side_by_side):
    """Where both fits converge to the same optimum, idex's impact charge, rise-time velocity and mass equal the
    mission's to 1e-6 relative, once the mission's point is carried to that optimum's exact location (SciPy's
    MINPACK from the mission's own parameters): the 1e-4 differences of the raw L2A values are the stopping
    tolerance of the mission's curve_fit (1e-8 on χ² and parameters), inside 0.01 standard error of the charge.
    Two ion-grid records (rows 0 and 4) have two distinct optima, 7e-8 and 6.5e-7 apart in χ² (3e-5 and 3e-4 of
    the noise variance; printed, not the same optimum)."""
    calibration = load_calibration()
    compared = []
    for r in side_by_side:
        if r["status"] != "converged" or abs(r["idex_chi2"] - r["mission_chi2"]) > 0.01 * r["redchi"]:
            continue
        exact, chi2 = _exact_optimum(r["t"], r["y"], r["mission_parameters"])
        charge = abs(impact_peak(exact[None])[1][0])
        same = abs(chi2 - r["idex_chi2"]) / r["idex_chi2"] < 1e-9
        print(
            f"{r['channel']:>12} {r['row']:3d} raw L2A dQ/Q {r['idex_charge'] / r['mission_charge'] - 1:+.1e}, "
            f"at the exact optimum {r['idex_charge'] / charge - 1:+.1e} (chi2 {r['idex_chi2'] / chi2 - 1:+.1e})"
        )
        if not same:
            continue
        ours = r["idex_parameters"]
        np.testing.assert_allclose(r["idex_charge"], charge, rtol=1e-6)
        if r["channel"] != "ion_grid":  # the ion-grid velocity comes from the target's charge, compared above
            velocity = calibration.velocity_from_rise_time(np.array([ours[3], exact[3]]))
            np.testing.assert_allclose(velocity[0], velocity[1], rtol=1e-6)
            mass = calibration.mass(np.array([r["idex_charge"], charge]), velocity)
            np.testing.assert_allclose(mass[0], mass[1], rtol=1e-6)
        compared.append(r)
    assert len(compared) >= 8  # ion grid row 2: idex's onset scan finds a lower optimum than the mission's


@pytest.mark.filterwarnings("ignore::idex.exceptions.CalibrationWarning")
def test_fit_command_writes_the_l2a_profile(tmp_path):
    from click.testing import CliRunner
    from conftest import CAPTURE_2023_12

    from idex.apps.cli import main

    out = tmp_path / "l2a.cdf"
    result = CliRunner().invoke(main, ["fit", str(CAPTURE_2023_12), "-o", str(out), "--profile", "l2a"])
    assert result.exit_code == 0, result.output
    assert idex.open(out).attrs["official_logical_source"] == "imap_idex_l2a_sci-10days"
    said = re.search(r"velocity estimates: target_low (\d+)/14 \(([a-z_ 0-9,]+)\)", result.output)
    assert said, result.output  # how many velocities, and why the others are missing, by name
    reasons = {why: int(n) for why, n in (part.rsplit(" ", 1) for part in said.group(2).split(", "))}
    assert int(said.group(1)) + sum(reasons.values()) == 14 and reasons["no_successful_fit"] == 9
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


def test_the_velocity_summary_names_why_each_velocity_is_missing():
    from idex.apps.commands.products import _velocity_summary
    from idex.model.quality import VelocityStatus

    l2a = xr.Dataset(
        {
            "target_low_velocity_estimate": ("event", [5.0, np.nan, np.nan, np.nan]),
            "science_event_flag": ("event", [1, 0, 1, 1]),
            "target_low_saturation_flag": ("event", [0, 0, 1, 0]),
            "target_low_velocity_status": ("event", [0, 0, 1, int(VelocityStatus.OUTSIDE_CALIBRATED_RANGE)]),
        }
    )
    assert _velocity_summary(l2a, "target_low") == (
        "target_low 1/4 (not_science_event 1, outside_calibrated_range 1, saturated 1)"
    )
