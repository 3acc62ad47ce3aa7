"""Event browser: event list, channels on their own time axes, header panel, and interactive refits."""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from idex.apps.view.data import Opened, save_overrides
from idex.fit.columns import FitColumns
from idex.fit.detection import threshold
from idex.fit.events import fit_arrays
from idex.fit.models import MODELS
from idex.model.dataset import waveform_channels
from idex.model.quality import FitStatus
from idex.schema import FitSpec

__all__ = ["EventBrowser", "fit_specs_for"]


def fit_specs_for(ds: xr.Dataset) -> dict[str, FitSpec]:
    """The fit declarations that go with a dataset (packet schema or scope setup)."""
    if "idex_scope_setup" in ds.attrs:
        from idex.scope.setups import setup_of

        return dict(setup_of(ds).fits)
    from idex.model.calibration import schema_of

    return dict(schema_of(ds).fits)


class EventBrowser(QWidget):
    """Browse the events of one opened file; refit a channel and keep or revert the result."""

    event_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.opened: Opened | None = None
        self.fits: dict[tuple[int, str], np.ndarray] = {}  # (event, channel) -> parameters shown
        self.statuses: dict[tuple[int, str], int] = {}  # (event, channel) -> FitStatus of an automatic fit or refit
        self.evidence: dict[tuple[int, str], float] = {}  # (event, channel) -> significance of that fit
        self.events = QListWidget()
        self.events.currentRowChanged.connect(self._row_changed)
        self.events.setMinimumWidth(230)
        self.overlay = QCheckBox("overlay")
        self.overlay.toggled.connect(self.redraw)
        self.channel_boxes: dict[str, QCheckBox] = {}
        self.channel_bar = QHBoxLayout()
        self.figure = Figure(figsize=(8, 6), constrained_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.header = QTableWidget(0, 3)
        self.header.setHorizontalHeaderLabels(["field", "value", "units"])
        self.header.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.fit_channel = QComboBox()
        self.fit_channel.currentTextChanged.connect(self._show_parameters)
        self.parameters = QTableWidget(0, 5)
        self.parameters.setHorizontalHeaderLabels(["parameter", "initial", "min", "max", "fitted ± error"])
        self.chi2 = QLabel("χ²: –")
        buttons = QHBoxLayout()
        for text, slot in (("Refit", self.refit), ("Keep", self.keep), ("Revert", self.revert)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            setattr(self, f"{text.lower()}_button", button)
        fit_panel = QWidget()
        fit_layout = QVBoxLayout(fit_panel)
        fit_layout.addWidget(self.fit_channel)
        fit_layout.addWidget(self.parameters)
        fit_layout.addWidget(self.chi2)
        fit_layout.addLayout(buttons)
        side = QTabWidget()
        side.addTab(self.header, "Header")
        side.addTab(fit_panel, "Fit")
        self.side = side
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        controls = QHBoxLayout()
        controls.addLayout(self.channel_bar)
        controls.addStretch()
        controls.addWidget(self.overlay)
        middle_layout.addLayout(controls)
        middle_layout.addWidget(NavigationToolbar2QT(self.canvas, self))
        middle_layout.addWidget(self.canvas)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget, stretch in ((self.events, 1), (middle, 4), (side, 2)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        for keys, step in ((("n", "Right", "Down"), 1), (("p", "Left", "Up"), -1)):
            for key in keys:
                QShortcut(QKeySequence(key), self).activated.connect(lambda step=step: self.step(step))

    # data -------------------------------------------------------------------------------------------
    def show_file(self, opened: Opened) -> None:
        """Show the events of ``opened``."""
        self.opened = opened
        ds = opened.events
        self.specs = fit_specs_for(ds)
        self.fits = {}
        self.statuses = {}
        self.evidence = {}
        for key, entry in opened.overrides.items():
            number, channel = key.split(":")
            self.fits[(int(number), channel)] = np.array(entry["params"])
        for box in self.channel_boxes.values():
            self.channel_bar.removeWidget(box)
            box.hide()  # at once: a removed box is never drawn over the plots while it waits to be deleted
            box.deleteLater()
        self.channel_boxes = {}
        for name in waveform_channels(ds):
            box = QCheckBox(name)
            box.setChecked(True)
            box.toggled.connect(self.redraw)
            self.channel_bar.addWidget(box)
            self.channel_boxes[name] = box
        self.fit_channel.blockSignals(True)
        self.fit_channel.clear()
        self.fit_channel.addItems([c for c in self.specs if c in ds])
        self.fit_channel.blockSignals(False)
        self.events.blockSignals(True)
        self.events.clear()
        dust = ds["dust_hit_flag"].values if "dust_hit_flag" in ds else np.zeros(ds.sizes["event"], np.uint8)
        rows = zip(ds["event"].values, ds["epoch"].values, ds["quality_flags"].values, dust, strict=True)
        for number, epoch, flags, hit in rows:
            text = f"{int(number):5d}  {np.datetime_as_string(epoch, unit='s')}" + ("  dust" if hit == 1 else "")
            self.events.addItem(text + (f"  flags {int(flags)}" if flags else ""))
        self.events.blockSignals(False)
        self.events.setCurrentRow(0)

    @property
    def shown(self) -> Opened:
        """The file on display (set by :meth:`show_file`)."""
        if self.opened is None:
            raise RuntimeError("no file is shown yet")
        return self.opened

    @property
    def current_event(self) -> int:
        """Event number on display."""
        return int(self.shown.events["event"].values[max(self.events.currentRow(), 0)])

    def select_event(self, number: int) -> None:
        """Show event ``number``."""
        self.events.setCurrentRow(int(np.flatnonzero(self.shown.events["event"].values == number)[0]))

    def step(self, step: int) -> None:
        """Next (``+1``) or previous (``-1``) event."""
        row = min(max(self.events.currentRow() + step, 0), self.events.count() - 1)
        self.events.setCurrentRow(row)

    def _row_changed(self, row: int) -> None:
        if row < 0 or self.opened is None:
            return
        self._fill_header()
        self._show_parameters(self.fit_channel.currentText())
        self._fit_every_channel()
        self.redraw()
        self.event_changed.emit(self.current_event)

    # panels -----------------------------------------------------------------------------------------
    def _fill_header(self) -> None:
        row = self.shown.events.sel(event=self.current_event)
        scalars = [(n, v) for n, v in row.data_vars.items() if v.ndim == 0]
        self.header.setRowCount(len(scalars))
        for i, (name, value) in enumerate(scalars):
            for j, text in enumerate((str(name), str(value.values), str(value.attrs.get("units", "")))):
                self.header.setItem(i, j, QTableWidgetItem(text))

    def _data(self, channel: str) -> tuple[np.ndarray, np.ndarray]:
        ds = self.shown.events
        t = ds.idex.time(channel).sel(event=self.current_event).values
        raw = ds[channel].sel(event=self.current_event)
        fill = raw.attrs.get("fill_value_used")
        values = raw.where(raw != fill).values if fill is not None else raw.values
        return t, values * raw.attrs.get("calibration_factor", 1.0)

    def _show_parameters(self, channel: str) -> None:
        if not channel or self.opened is None:
            return
        spec = self.specs[channel]
        t, y = self._data(channel)
        result = self.fits.get((self.current_event, channel))
        automatic = fit_arrays(t[None], y[None], spec)[0]
        columns = FitColumns.of(spec)
        shown = result if result is not None else automatic[columns.values]
        self.parameters.setRowCount(len(columns.parameters))
        for i, parameter in enumerate(spec.parameters):
            values = (
                parameter.name,
                f"{shown[i]:.6g}",
                f"{parameter.min:.6g}",
                f"{parameter.max:.6g}",
                f"{automatic[columns[parameter.name]]:.6g} ± {automatic[columns[f'{parameter.name}_stderr']]:.2g}",
            )
            for j, text in enumerate(values):
                item = QTableWidgetItem(text)
                if j in (0, 4):
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.parameters.setItem(i, j, item)
        self.chi2.setText(
            f"χ²: {automatic[columns['chisqr']]:.6g}  (automatic fit: {_status_name(automatic[columns['status']])}, "
            f"significance {automatic[columns['significance']]:.1f})"
        )
        self._remember(channel, automatic, columns)

    def _remember(self, channel: str, automatic: np.ndarray, columns: FitColumns) -> None:
        """Keep the automatic fit of ``channel`` for this event (unless one was kept or refitted)."""
        if (self.current_event, channel) not in self.fits:
            self.fits[(self.current_event, channel)] = automatic[columns.values]
            self.statuses[(self.current_event, channel)] = int(automatic[columns["status"]])
        self.evidence.setdefault((self.current_event, channel), float(automatic[columns["significance"]]))

    def _fit_every_channel(self) -> None:
        """The automatic fit of every fitted channel of this event, so each panel can say what its fit is worth."""
        for channel, spec in self.specs.items():
            if channel in self.shown.events and (self.current_event, channel) not in self.evidence:
                t, y = self._data(channel)
                self._remember(channel, fit_arrays(t[None], y[None], spec)[0], FitColumns.of(spec))

    # fitting ----------------------------------------------------------------------------------------
    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.parameters.item(row, column)
        if item is None:
            raise RuntimeError(f"the parameter table has no cell ({row}, {column})")
        return item

    def _edited_spec(self, channel: str) -> tuple[FitSpec, np.ndarray]:
        spec = self.specs[channel]
        initial, parameters = [], []
        for i, parameter in enumerate(spec.parameters):
            initial.append(float(self._cell(i, 1).text()))
            parameters.append(
                dataclasses.replace(parameter, min=float(self._cell(i, 2).text()), max=float(self._cell(i, 3).text()))
            )
        return dataclasses.replace(spec, parameters=tuple(parameters)), np.array([initial])

    def refit(self) -> float:
        """Refit the selected channel from the table's initial values and bounds; returns the new χ²."""
        channel = self.fit_channel.currentText()
        spec, initial = self._edited_spec(channel)
        t, y = self._data(channel)
        out = fit_arrays(t[None], y[None], spec, initial=initial)[0]
        columns = FitColumns.of(spec)
        self.fits[(self.current_event, channel)] = out[columns.values]
        self.statuses[(self.current_event, channel)] = int(out[columns["status"]])
        self.evidence[(self.current_event, channel)] = float(out[columns["significance"]])
        for i, name in enumerate(columns.parameters):
            self._cell(i, 4).setText(f"{out[columns[name]]:.6g} ± {out[columns[f'{name}_stderr']]:.2g}")
        self.chi2.setText(f"χ²: {out[columns['chisqr']]:.6g}  (refit: {_status_name(out[columns['status']])})")
        self.redraw()
        return float(out[columns["chisqr"]])

    def keep(self) -> None:
        """Keep the current fit of this channel: saved in the sidecar file, never in the data file."""
        channel = self.fit_channel.currentText()
        params = self.fits[(self.current_event, channel)]
        self.shown.overrides[f"{self.current_event}:{channel}"] = {
            "model": self.specs[channel].model,
            "params": [float(v) for v in params],
        }
        save_overrides(self.shown)

    def revert(self) -> None:
        """Forget the kept fit of this channel and show the automatic one again."""
        channel = self.fit_channel.currentText()
        self.shown.overrides.pop(f"{self.current_event}:{channel}", None)
        self.fits.pop((self.current_event, channel), None)
        self.statuses.pop((self.current_event, channel), None)
        save_overrides(self.shown)
        self._show_parameters(channel)
        self.redraw()

    # drawing ----------------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw the selected channels (stacked, or overlaid normalised) with trigger markers and fits."""
        if self.opened is None:
            return
        channels = [name for name, box in self.channel_boxes.items() if box.isChecked()]
        self.figure.clear()
        if not channels:
            self.canvas.draw_idle()
            return
        overlay = self.overlay.isChecked()
        axes = (
            [self.figure.add_subplot(111)] * len(channels)
            if overlay
            else self.figure.subplots(len(channels), 1, sharex=False, squeeze=False)[:, 0]
        )
        for ax, channel in zip(axes, channels, strict=True):
            t, y = self._data(channel)
            units = self.opened.events[channel].attrs.get(
                "calibration_units", self.opened.events[channel].attrs.get("units", "")
            )
            scale = np.nanmax(np.abs(y - np.nanmedian(y))) if overlay else 1.0
            baseline = np.nanmedian(y) if overlay else 0.0
            ax.plot(t, (y - baseline) / (scale or 1.0), lw=0.6, label=channel)
            params = self.fits.get((self.current_event, channel))
            if params is not None and np.all(np.isfinite(params)) and channel in self.specs and not overlay:
                curve = MODELS[self.specs[channel].model].function(t[None], params[None])[0]
                status = self.statuses.get((self.current_event, channel))  # None: a fit the user kept
                if status in (None, FitStatus.CONVERGED):
                    ax.plot(t, curve, color="tab:red", lw=1.0, label="fit" if status is not None else "kept fit")
                else:
                    ax.plot(t, curve, color="tab:gray", lw=1.0, ls="--", label=f"fit: {_status_name(status)}")
            if channel in self.specs and not overlay and (self.current_event, channel) in self.evidence:
                ax.text(
                    0.01,
                    0.95,
                    self._verdict(channel, t.size),
                    ha="left",
                    va="top",
                    fontsize=7,
                    color="tab:gray",
                    transform=ax.transAxes,
                )
            ax.axvline(0.0, color="tab:blue", ls="--", lw=0.8)
            ax.set_ylabel("normalised" if overlay else f"{channel} [{units}]")
        axes[-1].set_xlabel("time from trigger [µs]")
        axes[0].legend(fontsize=7, loc="upper right")
        self.figure.suptitle(f"{self.shown.path.name} · event {self.current_event}")
        self.canvas.draw_idle()

    def _verdict(self, channel: str, samples: int) -> str:
        """What the channel's fit is worth: its status and significance (and, with no signal, the threshold)."""
        status = self.statuses.get((self.current_event, channel))
        evidence = self.evidence[(self.current_event, channel)]
        text = f"{'kept fit' if status is None else 'fit: ' + _status_name(status)}, significance {evidence:.1f}"
        if status == FitStatus.NO_SIGNAL:
            text += f" < {threshold(self.specs[channel].false_alarm_probability, samples):.1f}: no fit numbers"
        return text


def _status_name(code: float) -> str:
    """Readable name of a fit status code (NaN: no result)."""
    return FitStatus(int(code)).name.lower().replace("_", " ") if np.isfinite(code) else "no result"
