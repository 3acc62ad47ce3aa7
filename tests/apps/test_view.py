"""The desktop viewer, driven offscreen: open real captures and a .trc folder, step, refit, keep/revert,
pick a scatter point, browse data. Screenshots go to the test's temporary folder."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from conftest import CAPTURE_2023_07, CAPTURE_2023_12  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from idex.apps.view.app import MainWindow  # noqa: E402
from idex.apps.view.data import overrides_path  # noqa: E402
from tests.scope.test_scope import synthetic_campaign  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path):
    for capture in (CAPTURE_2023_12, CAPTURE_2023_07):
        shutil.copy(capture, tmp_path / capture.name)
    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    main.open(tmp_path / CAPTURE_2023_12.name)
    main.open(tmp_path / CAPTURE_2023_07.name)
    main.file_choice.setCurrentIndex(0)
    return main


def test_browse_events_with_the_keyboard(window, qtbot, tmp_path):
    browser = window.browser
    assert browser.events.count() == 14 and browser.current_event == 1
    qtbot.keyClick(browser, Qt.Key.Key_Right)
    qtbot.keyClick(browser, Qt.Key.Key_N)
    assert browser.current_event == 3
    qtbot.keyClick(browser, Qt.Key.Key_Left)
    assert browser.current_event == 2
    assert len(browser.figure.axes) == 6  # six channels stacked, each on its own time axis
    browser.channel_boxes["tof_low"].setChecked(False)
    assert len(browser.figure.axes) == 5
    browser.overlay.setChecked(True)
    assert len(browser.figure.axes) == 1
    fields = [browser.header.item(i, 0).text() for i in range(browser.header.rowCount())]
    assert "detector_voltage" in fields and "trigger_id" in fields
    window.grab().save(str(tmp_path / "events.png"))
    assert (tmp_path / "events.png").stat().st_size > 20_000


def test_refit_keep_and_revert(window, tmp_path):
    browser = window.browser
    browser.select_event(8)
    browser.fit_channel.setCurrentText("target_low")
    automatic = float(browser.chi2.text().split()[1])
    browser.parameters.item(3, 1).setText("0.1")  # rise time: start at 0.1 µs...
    browser.parameters.item(3, 3).setText("0.2")  # ...and forbid the fitted ~1.1 µs
    refit = browser.refit()
    assert "refit" in browser.chi2.text() and refit > automatic * 1.001  # the constraint costs chi-square
    assert float(browser.parameters.item(3, 4).text().split()[0]) <= 0.2
    browser.keep()
    sidecar = overrides_path(window.files[0].path)
    saved = json.loads(sidecar.read_text())
    assert set(saved) == {"8:target_low"} and saved["8:target_low"]["model"] == "impact"
    assert window.files[0].path.read_bytes() == CAPTURE_2023_12.read_bytes()  # the data file is untouched
    browser.revert()
    assert not sidecar.exists() and "automatic" in browser.chi2.text()


def test_click_a_scatter_point_opens_the_event(window):
    explorer = window.explorer
    window.tabs.setCurrentIndex(1)
    explorer.y_choice.setCurrentText("trigger_time_high")
    assert len(explorer.points) == 33
    index = explorer.points.index((1, 13))
    explorer.pick(index)
    assert window.tabs.currentIndex() == 0
    assert window.file_choice.currentIndex() == 1 and window.browser.current_event == 13


def test_data_browser_shows_variables(window, tmp_path):
    data = window.data
    window.tabs.setCurrentIndex(2)
    top = data.tree.topLevelItem(0)
    groups = [top.child(i).text(0) for i in range(top.childCount())]
    assert "/events" in groups and "/packets" in groups
    events = top.child(groups.index("/events"))
    names = [events.child(i).text(0) for i in range(events.childCount())]
    tof = events.child(names.index("tof_high"))
    assert (tof.text(1), tof.text(2)) == ("14 × 8189", "uint16")
    data.tree.setCurrentItem(tof)
    assert data.table.rowCount() == 14 and data.table.item(0, 0).text().isdigit()
    window.grab().save(str(tmp_path / "data.png"))


def test_open_a_trc_folder(qtbot, tmp_path):
    synthetic_campaign(tmp_path, shots=2)
    main = MainWindow()
    qtbot.addWidget(main)
    opened = main.open(tmp_path)
    assert opened.events.sizes["event"] == 2
    assert main.browser.fit_channel.findText("target_low") >= 0
    np.testing.assert_allclose(main.browser.fits[(1, "target_low")][2], 50.0, rtol=0.05)


def test_explorer_opens_on_varying_quantities_with_units(qtbot, tmp_path):
    import idex

    window = MainWindow()
    qtbot.addWidget(window)
    fitted = idex.open_raw(idex.testing.sample_capture(), group="events").idex.fit(merge=True)
    path = tmp_path / "fitted.nc"
    fitted.to_netcdf(path)
    window.open(path)
    explorer = window.explorer
    assert explorer.x_choice.currentText() == "target_low_impact_charge"
    assert explorer.y_choice.currentText() == "ion_grid_impact_charge"
    axes = explorer.figure.axes[0]
    assert axes.get_xlabel() == "target_low_impact_charge [pC]"


def test_no_stray_checkbox_and_every_fitted_channel_says_what_its_fit_is_worth(window):
    """Opening a second file once left the first file's channel boxes drawn over the TOF-low axis label; every
    fitted channel's panel names its fit status and significance (and the threshold when not fitted)."""
    from PySide6.QtWidgets import QCheckBox

    browser = window.browser
    window.file_choice.setCurrentIndex(1)
    window.file_choice.setCurrentIndex(0)
    current = [*browser.channel_boxes.values(), browser.overlay]
    assert [box.text() for box in browser.findChildren(QCheckBox) if not box.isHidden() and box not in current] == []
    texts = [text.get_text() for ax in browser.figure.axes for text in ax.texts]
    assert len(texts) == 3 and all("significance" in text for text in texts)
