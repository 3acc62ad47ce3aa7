"""Line placement and the linear fit: a line wider, longer-tailed and off its predicted time is measured with its
own shape (its area right within its error), and a design with columns that touch no data solves without a
pseudo-inverse and gives what the pseudo-inverse gives."""

from __future__ import annotations

import numpy as np

import idex
from idex.science.line_fit import _estimator, fit_columns, templates
from idex.science.line_list import load_lines
from idex.science.line_placement import line_groups, place_lines

DT = 1 / 260


def test_a_big_wide_line_is_measured_with_its_own_shape():
    """Truth: Mg-24 1.6x wider, its tail 1.4x longer and 1.5 samples late, at 400 noise sigmas beside a Na-23 line
    forty times smaller. With the nominal shape the areas are wrong by many errors; with the fitted shape both are
    within three errors of the truth, and the big line's shape factors are found."""
    config = idex.load_schema("science_2023_12").composition
    lines = load_lines(config.lines)
    keep = [lines.labels.index(label) for label in ("Na-23", "Mg-24")]
    clock = np.arange(3000) * DT
    nominal = (config.line_sigma_us, (config.line_tau_us[0], config.line_tau_us[1]))
    predicted = 1.0 + 1.4374 * np.sqrt(lines.masses)
    truth_times = predicted[keep] + np.array([0.0, 1.5 * DT])
    areas = np.array([0.025, 1.0])
    shape = (np.array([1.0, 1.6]), np.array([1.0, 1.4]))
    noise = 1e-3 * areas[1] / config.line_sigma_us / 400 * 1e3
    rng = np.random.default_rng(7)
    y = areas @ templates(clock, truth_times, lines.masses[keep], *nominal, shape) + rng.normal(0, noise, clock.size)
    sigma = np.full(clock.size, noise)
    times = np.full(lines.masses.size, -10.0)  # every other line outside the record
    times[keep] = predicted[keep]
    groups = line_groups(lines, times, config.resolution_samples * DT)
    representative = [int(g[0]) for g in groups]
    correlation = np.array([1.0])
    placed = place_lines(y, sigma, clock, times, lines, groups, representative, config, correlation, DT)
    columns = [representative.index(k) for k in keep]
    design = templates(clock, placed.times[representative], lines.masses[representative], *nominal)
    design_own = templates(
        clock,
        placed.times[representative],
        lines.masses[representative],
        *nominal,
        (placed.shape[0][representative], placed.shape[1][representative]),
    )
    fitted = fit_columns(y, sigma, np.vstack([design_own, placed.freedom]), correlation)
    naive = fit_columns(y, sigma, design, correlation)
    pulls = (fitted.area[columns] - areas) / fitted.stderr[columns]
    naive_pulls = (naive.area[columns] - areas) / naive.stderr[columns] * naive.inflation[columns]
    print(f"own shape pulls {pulls.round(2)}, nominal shape pulls (noise errors) {naive_pulls.round(1)}")
    assert np.all(np.abs(pulls) < 3) and np.max(np.abs(naive_pulls)) > 10
    mg = keep[1]
    assert abs(placed.shape[0][mg] - 1.6) < 0.15 and abs(placed.shape[1][mg] - 1.4) < 0.2
    assert abs(placed.times[mg] - truth_times[1]) < 0.5 * DT


def test_columns_without_data_are_solved_as_the_pseudo_inverse_solves_them():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 200))
    x[2] = 0.0  # a line outside the record
    x[4, :100] = 0.0
    w = np.where(np.arange(200) < 100, 1.0, 0.0)  # ... and a column that touches only unweighted samples
    w[:100] *= rng.uniform(0.5, 2.0, 100)
    ours = _estimator(x, w)
    normal = (x * w) @ x.T
    assert np.allclose(ours, np.linalg.pinv(normal) @ (x * w), atol=1e-12)
    assert not ours[[2, 4]].any()
