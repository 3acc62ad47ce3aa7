"""Quicklook figures: nothing drawn outside the canvas, the evidence and the reason for every channel not fitted,
and no empty panel without fits."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from idex.apps.quicklook import event_figure, summary_figure  # noqa: E402
from idex.model.quality import FitStatus  # noqa: E402


def _outside(figure) -> list[str]:
    """What of the drawn figure leaves the canvas (by more than one pixel): every title, label, legend and text
    by name, and anything else (tick labels) through the figure's tight bounding box."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height

    def off(box) -> bool:
        return box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1

    texts = list(figure.texts)
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        texts += [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.get_legend() is not None:
            texts += [ax.get_legend().get_title(), *ax.get_legend().get_texts()]
    out = [t.get_text() for t in texts if t.get_visible() and t.get_text() and off(t.get_window_extent(renderer))]
    tight = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)
    return out + (["tick labels or other artists"] if off(tight) else [])


@pytest.fixture(scope="module")
def fitted(events_2023_07):
    return events_2023_07.idex.fit(merge=True, curves=True)


@pytest.fixture(scope="module")
def fitted_2023_12(events_2023_12):
    return events_2023_12.idex.fit(merge=True, curves=True)


@pytest.mark.parametrize(("capture", "event"), [("2023_12", 1), ("2023_12", 2), ("2023_07", 9), ("2023_07", 18)])
def test_event_figure_text_stays_on_the_canvas(fitted, fitted_2023_12, capture, event):
    """2023-12-14 event 1 has the longest title (flags, saturations, voltages): it once ran off both sides."""
    figure = event_figure(fitted_2023_12 if capture == "2023_12" else fitted, event)
    try:
        assert _outside(figure) == []
        title = figure._suptitle.get_text()
        assert f"event {event}" in title and "trigger:" in title
    finally:
        plt.close(figure)


def test_every_channel_shows_its_evidence_or_why_it_is_not_fitted(fitted):
    figure = event_figure(fitted, 18)  # target high: a pulse starting 12 us before the trigger, fitted
    try:
        legends = [ax.get_legend().get_title().get_text() for ax in figure.axes if ax.get_legend()]
        texts = [text.get_text() for ax in figure.axes for text in ax.texts]
        assert any("significance" in title for title in legends)
        converged = sum(
            int(fitted[f"{c}_fit_status"].sel(event=18)) == FitStatus.CONVERGED
            for c in ("target_low", "target_high", "ion_grid")
        )
        assert len(legends) == converged and len(texts) == 3 - converged
        assert all(text.startswith("fit: ") and "significance" in text for text in texts)
    finally:
        plt.close(figure)


def test_summary_without_fits_has_no_empty_panel(events_2023_07, fitted):
    bare = summary_figure(events_2023_07, "capture")
    with_fits = summary_figure(fitted, "capture")
    try:
        assert len(bare.axes) == 2 and len(with_fits.axes) == 3
        assert _outside(bare) == [] and _outside(with_fits) == []
        shown = sum(len(line.get_xdata()) for line in with_fits.axes[1].lines)
        assert shown == sum(int(fitted[f"{c}_fit_success"].sum()) for c in ("target_low", "target_high", "ion_grid"))
        assert np.isfinite(shown)
    finally:
        plt.close(bare)
        plt.close(with_fits)
