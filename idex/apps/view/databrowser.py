"""Data browser: groups, variables and attributes of every opened file, with a table and plot of a variable."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from idex.apps.view.data import Opened

__all__ = ["DataBrowser"]

_ROLE = Qt.ItemDataRole.UserRole


class DataBrowser(QWidget):
    """Tree of groups / variables / attributes (shape, dtype, units) and the selected variable's values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["name", "shape", "dtype", "units"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)  # names never cut
        self.tree.currentItemChanged.connect(self._selected)
        self.table = QTableWidget()
        self.figure = Figure(figsize=(5, 3), constrained_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.table)
        right_layout.addWidget(self.canvas)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tree)
        splitter.addWidget(right)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.variables: dict[int, xr.DataArray] = {}

    def set_files(self, files: list[Opened]) -> None:
        """List every group, variable and attribute of ``files``."""
        self.tree.clear()
        self.variables = {}
        for opened in files:
            top = QTreeWidgetItem([opened.path.name, "", "", ""])
            self.tree.addTopLevelItem(top)
            for node in opened.tree.subtree:
                if not node.has_data and node is not opened.tree:
                    continue
                group = QTreeWidgetItem([node.path, "", "", ""])
                top.addChild(group)
                for name, variable in node.dataset.variables.items():
                    item = QTreeWidgetItem(
                        [
                            str(name),
                            " × ".join(map(str, variable.shape)),
                            str(variable.dtype),
                            str(variable.attrs.get("units", "")),
                        ]
                    )
                    key = len(self.variables)
                    self.variables[key] = node.dataset[name]
                    item.setData(0, _ROLE, key)
                    group.addChild(item)
                    for attr, value in variable.attrs.items():
                        item.addChild(QTreeWidgetItem([f"@{attr}", "", type(value).__name__, str(value)[:200]]))
            top.setExpanded(True)

    def _selected(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        key = item.data(0, _ROLE) if item is not None else None
        if key is None:
            return
        self.show_variable(self.variables[key])

    def show_variable(self, variable: xr.DataArray) -> None:
        """Show the first rows of ``variable`` in the table and plot it (line, or image for 2-D)."""
        values = np.atleast_2d(np.asarray(variable.values))
        if variable.ndim == 1:
            values = values.T
        rows, columns = min(values.shape[0], 200), min(values.shape[1], 50)
        self.table.setRowCount(rows)
        self.table.setColumnCount(columns)
        for i in range(rows):
            for j in range(columns):
                self.table.setItem(i, j, QTableWidgetItem(str(values[i, j])))
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        if variable.dtype.kind in "iufb":
            if variable.ndim == 2:
                ax.imshow(np.asarray(variable.values, dtype=float), aspect="auto", interpolation="nearest")
            elif variable.ndim == 1:
                ax.plot(np.asarray(variable.values, dtype=float), ".-", lw=0.6)
        ax.set_title(f"{variable.name} [{variable.attrs.get('units', '')}]")
        self.canvas.draw_idle()
