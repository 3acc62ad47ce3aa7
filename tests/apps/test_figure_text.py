"""The SNR and calibration figures: every tick label inside the canvas and none overlapping another."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import synthetic_campaign as truth

import idex.apps.snr_study as snr_study
import idex.atomic
from idex.science.calibration_report import write_report
from idex.science.lab_calibration import calibrate


def _check_text(figure) -> int:
    """Assert the visible tick labels of every axis lie inside the canvas and do not overlap; return how many."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    canvas = figure.bbox
    checked = 0
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = axis._update_ticks()  # the ticks matplotlib draws (inside the view), as drawing uses them
            labels = [tick.label1 for tick in drawn if tick.label1.get_visible() and tick.label1.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for label, box in zip(labels, boxes, strict=True):
                assert canvas.x0 - 1 <= box.x0 and box.x1 <= canvas.x1 + 1, f"clipped: {label.get_text()!r}"
                assert canvas.y0 - 1 <= box.y0 and box.y1 <= canvas.y1 + 1, f"clipped: {label.get_text()!r}"
            for (a, box_a), (b, box_b) in itertools.combinations(zip(labels, boxes, strict=True), 2):
                assert not box_a.overlaps(box_b), f"overlapping tick labels {a.get_text()!r} and {b.get_text()!r}"
            checked += len(labels)
    return checked


@pytest.fixture
def inspected(monkeypatch):
    """Every figure the code saves is checked before it is written."""
    counts = []
    original = idex.atomic.save_figure

    def checking(figure, path, **options):
        counts.append(_check_text(figure))
        return original(figure, path, **options)

    monkeypatch.setattr(snr_study, "save_figure", checking)
    monkeypatch.setattr(idex.atomic, "save_figure", checking)
    return counts


def test_snr_figures_on_short_log_ranges(tmp_path, inspected):
    """SNR spanning about a decade (5-60) is where matplotlib labels minor log ticks, and "3x10^1" collided."""
    rng = np.random.default_rng(5)
    n = 40

    def spread():
        return np.exp(rng.uniform(np.log(5.0), np.log(60.0), n))

    table = pd.DataFrame(
        {
            "epoch": pd.date_range("2023-12-14", periods=n, freq="min"),
            **{f"{c}_snr": spread() for c in snr_study.TOF_CHANNELS},
            "target_low_impact_charge": spread(),
        }
    )
    written = snr_study.snr_plots(table, tmp_path)
    assert len(written) == 3 and len(inspected) == 3 and all(count > 0 for count in inspected)


def test_calibration_figure(tmp_path, inspected):
    result = calibrate([truth.campaign(200, 1, "first"), truth.campaign(200, 2, "second")], bootstrap=5, seed=3)
    write_report(result, tmp_path)
    assert len(inspected) == 1 and inspected[0] > 0
