"""Composition: synthetic grains of known make-up recovered through the whole chain, and isotope physics on the real
capture (tests/synthetic_composition.py draws the grains)."""

from __future__ import annotations

import numpy as np
import pytest

from idex.science.abundances import abundances
from tests.synthetic_composition import ABSENT, RSF, TRUE_RATIOS, make_grains

N_GRAINS = 48
NATURAL_MG = {"Mg-25": 0.1000 / 0.7899, "Mg-26": 0.1101 / 0.7899}  # IUPAC representative isotopic composition


@pytest.fixture(scope="module")
def grains(events_2023_12):
    return make_grains(events_2023_12, N_GRAINS, seed=2026)


@pytest.fixture(scope="module")
def recovered(grains):
    return grains.ds.idex.composition(rsf=RSF)


def test_gain_ratio_is_measured_from_the_data(recovered):
    """The generator's high/mid ratio is 7.5 % off the schema's nominal one: the measured one finds the truth."""
    ratio = float(recovered["tof_gain_ratio"].sel(gain="tof_mid"))
    error = float(recovered["tof_gain_ratio_stderr"].sel(gain="tof_mid"))
    assert abs(ratio - TRUE_RATIOS[0]) < 3 * error + 0.01 * TRUE_RATIOS[0]
    assert float(recovered["tof_gain_ratio_used"].sel(gain="tof_mid")) == ratio
    assert float(recovered["tof_gain_ratio_nominal"].sel(gain="tof_mid")) == pytest.approx(0.00293 / 7.5e-05)
    # the low gain sees too little on scale to measure: its nominal ratio is used, and the attribute says so
    assert "tof_low nominal" in recovered["tof_combined"].attrs["calibration"]


def test_clipped_samples_come_from_the_next_gain(grains, recovered):
    source = recovered["tof_combined_source"].values
    high = grains.ds["tof_high"].values
    assert grains.saturated.sum() >= 5
    clipped = high >= 1015  # the schema's saturation limit, and two guard samples each side
    guarded = (
        clipped | np.roll(clipped, 1, 1) | np.roll(clipped, 2, 1) | np.roll(clipped, -1, 1) | np.roll(clipped, -2, 1)
    )
    assert np.all(source[guarded] >= 1)
    assert np.all(source[(high > 600) & (high < 1015) & ~guarded] == 0)
    assert np.all(np.isfinite(recovered["tof_combined"].values[source >= 0]))


@pytest.mark.parametrize(("name", "element"), [("mg_si", "Mg"), ("fe_si", "Fe")])
def test_major_ratios_within_their_errors(grains, recovered, name, element):
    """Acceptance: Mg/Si and Fe/Si (after RSFs) within two stated errors for >= 90 % of grains, pulls Gaussian,
    saturated grains included (their big lines recovered through the mid gain)."""
    truth = grains.atoms[element] / grains.atoms["Si"]
    value, error = recovered[f"ratio_{name}"].values, recovered[f"ratio_{name}_stderr"].values
    assert np.isfinite(value).mean() >= 0.95
    pull = ((value - truth) / error)[np.isfinite(value)]
    assert np.mean(np.abs(pull) < 2) >= 0.90, pull
    assert 0.5 < np.std(pull) < 1.4 and abs(np.median(pull)) < 0.5
    saturated = ((value - truth) / error)[grains.saturated]
    assert np.mean(np.abs(saturated[np.isfinite(saturated)]) < 3) >= 0.8
    assert np.median(np.abs(value / truth - 1)) < 0.1


def test_absent_species_are_rarely_detected(grains, recovered):
    """Acceptance: false detections of absent elements <= 1 %; present majors always detected; upper limits given."""
    elements = list(recovered["element"].values)
    detected = recovered["detected"].values
    absent = np.column_stack([grains.atoms[e] == 0 for e in elements])
    assert absent[:, [elements.index(e) for e in ABSENT]].all()
    assert detected[absent].mean() <= 0.01
    for major in ("Mg", "Si", "Fe"):
        assert detected[:, elements.index(major)].all()
    limits = recovered["upper_limit"].values
    assert np.all(np.isfinite(limits[~detected & (recovered["composition_status"].values == 0)[:, None]]))
    assert np.all(np.isnan(limits[detected]))
    assert np.nansum(recovered["abundance"].values, axis=1) == pytest.approx(1.0)


def test_provenance_names_rsf_lines_and_mass_calibration(recovered):
    text = recovered["abundance"].attrs["provenance"]
    assert "composition_lines.csv" in text and "mapping given to composition()" in text
    assert "campaign stretch prior" in text and "line-shape spread" in text
    assert recovered["abundance"].attrs["rsf_status"] == "user"


def test_shipped_rsf_are_labelled_test_parameters(events_2023_12):
    result = events_2023_12.isel(event=[0, 2]).idex.composition()
    assert result["abundance"].attrs["rsf_status"] == "test-parameters"
    assert "unit placeholders" in result["abundance"].attrs["provenance"]


def test_bad_rsf_and_line_list_are_clear_errors(events_2023_12, tmp_path):
    subset = events_2023_12.isel(event=[0])
    with pytest.raises(KeyError, match="Fe"):
        subset.idex.composition(rsf={"Mg": 1.0})
    with pytest.raises(ValueError, match="Si must be positive"):
        subset.idex.composition(rsf={**RSF, "Si": 0.0})
    bad = tmp_path / "lines.csv"
    bad.write_text("species,label,mass,abundance,kind\nMg,Mg-24,23.985,0.79,metal\n")
    with pytest.raises(ValueError, match="lines.csv.*row 1"):
        subset.idex.composition(lines=bad)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        subset.idex.composition(rsf="nope.yaml")


def test_real_capture_magnesium_isotopes_against_nature(events_2023_12):
    """Physics as the oracle: where Mg-24 stands out, the 25/24 line ratio agrees with natural abundance (weighted
    mean over events, its error scaled by the events' scatter). Mg-24/25/26 are flagged as ambiguous with C2+ and
    hydrocarbon ions, which the line list carries."""
    result = events_2023_12.idex.composition()
    species = list(result["species"].values)
    area, error = result["line_area"].values, result["line_area_stderr"].values
    i24 = species.index("Mg-24")
    strong = result["line_significance"].values[:, i24] > 10
    assert strong.sum() >= 5
    means = {}
    for isotope in ("Mg-25", "Mg-26"):
        i = species.index(isotope)
        ratio = area[strong, i] / area[strong, i24]
        sigma = np.abs(ratio) * np.hypot(error[strong, i] / area[strong, i], error[strong, i24] / area[strong, i24])
        weight = 1 / sigma**2
        mean = np.sum(weight * ratio) / weight.sum()
        birge = max(1.0, np.sqrt(np.sum(weight * (ratio - mean) ** 2) / (ratio.size - 1)))
        means[isotope] = (mean, birge / np.sqrt(weight.sum()))
    mean, sigma = means["Mg-25"]
    assert abs(mean - NATURAL_MG["Mg-25"]) < 2 * sigma, means
    ambiguous = dict(zip(species, result["species_ambiguous_with"].values, strict=True))
    assert "C2-24" in ambiguous["Mg-24"] and "C2H-25" in ambiguous["Mg-25"] and "C2H2-26" in ambiguous["Mg-26"]


def test_abundances_propagate_the_covariance():
    """Two elements whose signals are anti-correlated: the fraction's error uses the covariance (first order,
    checked against a Monte Carlo of the same Gaussian)."""
    rng = np.random.default_rng(1)
    x = np.array([[2.0, 1.0]])
    covariance = np.array([[[0.04, -0.015], [-0.015, 0.02]]])
    result = abundances(x, covariance, np.array([[50.0, 50.0]]), 5.0, 3.0)
    draws = rng.multivariate_normal(x[0], covariance[0], 200_000)
    fractions = draws[:, 0] / draws.sum(axis=1)
    assert result.stderr[0, 0] == pytest.approx(fractions.std(), rel=0.03)
