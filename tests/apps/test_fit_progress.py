"""`idex fit` and `idex quicklook` fit a campaign's file in blocks of events (a progress bar on a terminal): the
result is the one a single fit of all events gives."""

from __future__ import annotations

import sys

import numpy as np
import xarray as xr

from idex.apps.commands.fitting import fitted


def test_fitting_in_blocks_gives_the_single_fit(events_2023_12):
    whole = events_2023_12.idex.fit(merge=True, curves=True)
    blocks = fitted(events_2023_12, curves=True, block=5)  # 14 events: blocks of 5, 5 and 4
    xr.testing.assert_identical(blocks, whole)
    assert all(blocks[name].dtype == whole[name].dtype for name in whole.variables)
    np.testing.assert_array_equal(blocks["event"], events_2023_12["event"])


def test_a_terminal_shows_the_fitting_progress(events_2023_12, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fitted(events_2023_12, ["target_low"], block=7)
    assert "fitting events" in capsys.readouterr().err
