"""Explorer: per-event scalars of every opened file against each other; clicking a point opens that event."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from idex.apps.view.data import Opened

__all__ = ["Explorer"]


class Explorer(QWidget):
    """Scatter of two chosen per-event variables across files, coloured by a third."""

    event_picked = Signal(int, int)  # file index, event number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.files: list[Opened] = []
        self.x_choice, self.y_choice, self.color_choice = QComboBox(), QComboBox(), QComboBox()
        controls = QHBoxLayout()
        for label, box in (("x", self.x_choice), ("y", self.y_choice), ("colour", self.color_choice)):
            controls.addWidget(QLabel(label))
            controls.addWidget(box)
            box.currentTextChanged.connect(self.redraw)
        controls.addStretch()
        self.figure = Figure(figsize=(7, 5), constrained_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.mpl_connect("pick_event", self._picked)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(NavigationToolbar2QT(self.canvas, self))
        layout.addWidget(self.canvas)
        self.points: list[tuple[int, int]] = []

    def set_files(self, files: list[Opened]) -> None:
        """Offer the numeric per-event variables common to ``files``."""
        self.files = files
        names: set[str] | None = None
        for opened in files:
            ds = opened.events
            numeric = {str(n) for n, v in ds.data_vars.items() if v.dims == ("event",) and v.dtype.kind in "iuf"}
            names = numeric if names is None else names & numeric
        choices = sorted(names or [])
        defaults = (_first_present(_X_DEFAULTS, choices), _first_present(_Y_DEFAULTS, choices), "quality_flags")
        for box, default in zip((self.x_choice, self.y_choice, self.color_choice), defaults, strict=True):
            box.blockSignals(True)
            box.clear()
            box.addItems(["event", *choices])
            if default in choices:
                box.setCurrentText(default)
            box.blockSignals(False)
        self.redraw()

    def _values(self, name: str) -> np.ndarray:
        return (
            np.concatenate([np.asarray(f.events[name].values, dtype=float) for f in self.files])
            if self.files
            else np.zeros(0)
        )

    def redraw(self) -> None:
        """Draw the scatter for the chosen variables."""
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        if not self.files or not self.x_choice.currentText():
            self.canvas.draw_idle()
            return
        x, y, c = (self._values(box.currentText()) for box in (self.x_choice, self.y_choice, self.color_choice))
        self.points = [(i, int(n)) for i, f in enumerate(self.files) for n in f.events["event"].values]
        scatter = ax.scatter(x, y, c=c, cmap="viridis", s=25, picker=5)
        self.figure.colorbar(scatter, ax=ax, label=self.color_choice.currentText())
        ax.set(
            xlabel=self._label(self.x_choice.currentText()),
            ylabel=self._label(self.y_choice.currentText()),
            title=f"{len(self.points)} events from {len(self.files)} file(s) · click a point to open it",
        )
        self.canvas.draw_idle()

    def _label(self, name: str) -> str:
        """``name [units]`` from the first file that has the variable."""
        units = next((str(f.events[name].attrs.get("units", "")) for f in self.files if name in f.events), "")
        return f"{name} [{units}]" if units and units != "1" else name

    def _picked(self, pick) -> None:
        if len(pick.ind):
            self.pick(int(pick.ind[0]))

    def pick(self, index: int) -> None:
        """Open the event behind point ``index``."""
        file_index, number = self.points[index]
        self.event_picked.emit(file_index, number)


_X_DEFAULTS = ("target_low_impact_charge", "target_high_impact_charge", "detector_voltage", "event")
_Y_DEFAULTS = ("ion_grid_impact_charge", "target_high_impact_charge", "target_voltage", "quality_flags")
"""What the scatter opens on: impact charges when fitted, else housekeeping that varies, else the event number."""


def _first_present(candidates: tuple[str, ...], choices: list[str]) -> str:
    return next((name for name in candidates if name in choices), "event")
