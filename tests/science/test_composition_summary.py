"""Grain summaries: the isotope-pattern test, the nearest reference composition, and RSF errors in abundances."""

from __future__ import annotations

import numpy as np
import pytest

from idex.science.grain_summary import NO_MATCH, isotope_pattern, match_references, references
from idex.science.line_fit import fit_columns, templates
from tests.synthetic_composition import RSF


def _grain(mg: float, si: float, fe: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[mg, si, fe]])
    return x, np.diag([sigma**2] * 3)[None]


def test_nearest_reference_or_no_match():
    """A forsterite-like grain (Mg/Si 2, no Fe) matches forsterite; one at Mg/Si 5 matches nothing within its
    errors; without Si there is no ratio to match."""
    table, source = references()
    assert {"forsterite", "enstatite", "CI chondrite"} <= set(table) and "Lodders" in source
    x, cov = _grain(2.02, 1.0, 0.01, 0.03)
    match = match_references(x, cov, np.array([True]), (0, 1, 2), 0.05)
    assert match.name[0] == "forsterite" and match.pvalue[0] > 0.05
    x, cov = _grain(5.0, 1.0, 0.5, 0.03)
    match = match_references(x, cov, np.array([True]), (0, 1, 2), 0.05)
    assert match.name[0] == NO_MATCH and match.chi2[0] > 100
    match = match_references(x, cov, np.array([False]), (0, 1, 2), 0.05)
    assert match.name[0] == "" and np.isnan(match.chi2[0])


def test_isotope_pattern_chi_square_follows_its_distribution():
    """Lines drawn at the natural pattern with Gaussian errors: p-values uniform (1 % below 0.01)."""
    rng = np.random.default_rng(3)
    pattern = np.array([0.7899, 0.1, 0.1101])
    error = np.array([0.02, 0.01, 0.01])
    area = pattern * 2.0 + rng.normal(0, 1, (20_000, 3)) * error
    _, p = isotope_pattern(area, np.broadcast_to(error, area.shape), pattern)
    assert np.mean(p < 0.01) == pytest.approx(0.01, abs=0.003)
    assert np.mean(p < 0.5) == pytest.approx(0.5, abs=0.02)


def test_rsf_errors_reach_the_ratios(events_2023_12, tmp_path):
    """An RSF table with standard errors: each ratio's variance grows by ratio^2 times the RSFs' relative
    variances; a table whose rsf_stderr misses an element is an error naming the file and the element."""
    subset = events_2023_12.isel(event=[0, 7])
    plain = subset.idex.composition(rsf=RSF)
    relative = {"Mg": 0.2, "Si": 0.1, "Fe": 0.3}
    with_errors = subset.idex.composition(rsf={e: (v, v * relative.get(e, 0.0)) for e, v in RSF.items()})
    np.testing.assert_array_equal(with_errors["ratio_mg_si"].values, plain["ratio_mg_si"].values)
    for name, top, bottom in (("mg_si", "Mg", "Si"), ("fe_si", "Fe", "Si")):
        value, base = plain[f"ratio_{name}"].values, plain[f"ratio_{name}_stderr"].values
        expected = np.sqrt(base**2 + value**2 * (relative[top] ** 2 + relative[bottom] ** 2))
        np.testing.assert_allclose(with_errors[f"ratio_{name}_stderr"].values, expected, rtol=1e-9)
    assert "RSF standard errors propagated" in with_errors["abundance"].attrs["provenance"]
    table = tmp_path / "lab_rsf.yaml"
    table.write_text(
        "status: lab\nsource: test table\nrsf: {" + ", ".join(f"{e}: {v}" for e, v in RSF.items()) + "}\n"
        "rsf_stderr: {Mg: 0.1}\n"
    )
    with pytest.raises(KeyError, match="lab_rsf.yaml.*rsf_stderr.*Si"):
        subset.idex.composition(rsf=table)


def test_gain_ratio_error_reaches_the_areas():
    """Samples joined from a lower gain scale with its ratio: a 10 % ratio error on the half of a line taken from
    that gain is a 5 % error of its area, on top of the noise."""
    clock = np.arange(400) * 0.00385
    line = templates(clock, np.array([0.7]), np.array([24.0]), 0.007, (0.0085, 0.0004))
    y = 2.0 * line[0]
    sigma = np.full(clock.size, 1e-3)
    white = np.eye(1, 65)[0]
    plain = fit_columns(y, sigma, line, white)
    source = np.where(np.arange(clock.size) >= np.argmax(y), 1, 0)  # from the maximum on: the next gain
    half = np.sum(line[0] * source) / np.sum(line[0])
    scaled = fit_columns(y, sigma, line, white, data_changes=np.where(source >= 1, y, 0.0)[None] * 0.1)
    expected = np.hypot(plain.stderr[0], 0.1 * 2.0 * half)
    assert scaled.stderr[0] == pytest.approx(expected, rel=0.05)
    assert scaled.noise[0] == pytest.approx(plain.noise[0])
