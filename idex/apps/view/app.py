"""The main window: Events, Explorer and Data tabs over every file opened."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from idex.apps.view.data import Opened, load
from idex.apps.view.databrowser import DataBrowser
from idex.apps.view.events import EventBrowser
from idex.apps.view.explorer import Explorer

__all__ = ["MainWindow", "run"]

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """``idex view``: open captures, .trc folders and products; browse, refit, explore, inspect."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("idex view")
        self.files: list[Opened] = []
        self.file_choice = QComboBox()
        self.file_choice.currentIndexChanged.connect(self._file_chosen)
        self.browser = EventBrowser()
        self.explorer = Explorer()
        self.explorer.event_picked.connect(self.open_event)
        self.data = DataBrowser()
        events_tab = QWidget()
        layout = QVBoxLayout(events_tab)
        layout.addWidget(self.file_choice)
        layout.addWidget(self.browser)
        self.tabs = QTabWidget()
        self.tabs.addTab(events_tab, "Events")
        self.tabs.addTab(self.explorer, "Explorer")
        self.tabs.addTab(self.data, "Data")
        self.setCentralWidget(self.tabs)
        menu = self.menuBar().addMenu("&File")
        menu.addAction("Open file…", self._open_file_dialog)
        menu.addAction("Open .trc folder…", self._open_folder_dialog)
        menu.addAction("Quit", self.close)
        self.resize(1400, 850)

    def open(self, path: str | Path) -> Opened:
        """Open ``path`` and add it to every tab."""
        opened = load(path)
        self.files.append(opened)
        self.file_choice.addItem(opened.path.name)
        self.explorer.set_files(self.files)
        self.data.set_files(self.files)
        self.file_choice.setCurrentIndex(len(self.files) - 1)
        return opened

    def _file_chosen(self, index: int) -> None:
        if 0 <= index < len(self.files):
            self.browser.show_file(self.files[index])

    def open_event(self, file_index: int, number: int) -> None:
        """Show event ``number`` of file ``file_index`` in the Events tab."""
        self.file_choice.setCurrentIndex(file_index)
        self.browser.select_event(number)
        self.tabs.setCurrentIndex(0)

    def _open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open capture or product")
        self._try_open(path)

    def _open_folder_dialog(self) -> None:
        self._try_open(QFileDialog.getExistingDirectory(self, "Open a folder of .trc files"))

    def _try_open(self, path: str) -> None:
        if not path:
            return
        try:
            self.open(path)
        except Exception as error:  # a dialog, not a crash, for a file that cannot be read
            QMessageBox.warning(self, "idex view", f"cannot open {path}: {error}")


def run(paths: list[str]) -> int:
    """Start the application; Ctrl+C or SIGTERM closes it (exit status 128 + the signal number)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    received: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        received.append(signum)
        QTimer.singleShot(0, app.quit)  # also when the loop has not started yet: it quits once it does

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    # Qt's event loop never hands control back to Python, whose signal handlers run only between its own
    # instructions: a timer gives it that chance five times a second.
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    window = MainWindow()
    for path in paths:
        window.open(path)
    window.show()
    log.info("viewer window shown")
    status = app.exec()
    heartbeat.stop()
    return 128 + received[0] if received else status
