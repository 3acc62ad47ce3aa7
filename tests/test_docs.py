"""The model documentation lists every variable the shipped schemas produce."""

from __future__ import annotations

from pathlib import Path

import pytest

import idex

MODEL_DOC = Path(__file__).resolve().parent.parent / "docs" / "model.md"


@pytest.mark.parametrize("version", ["2023_07", "2023_12"])
def test_every_variable_is_documented(version):
    text = MODEL_DOC.read_text(encoding="utf-8")
    ds = idex.open_raw(idex.testing.sample_capture(version), group="events")
    missing = [name for name in [*ds.coords, *ds.data_vars] if f"`{name}`" not in text]
    assert not missing, f"docs/model.md does not mention {missing}"


def test_every_derived_variable_is_documented(events_2023_12):
    """Outputs of fit, mass, velocity and fit_peaks appear in docs/model.md (per-channel names shown for target_low)."""
    text = MODEL_DOC.read_text(encoding="utf-8")
    fitted = events_2023_12.idex.fit(["target_low"], merge=True).idex.mass()
    with pytest.warns(idex.exceptions.CalibrationWarning):
        velocity = fitted.idex.velocity()
    names = [*fitted.data_vars, *fitted.coords, *velocity.data_vars]
    peaks = [name.removeprefix("tof_high_peak").removesuffix("_stderr") for name in fitted.idex.fit_peaks().data_vars]
    missing = [n for n in names if f"`{n}`" not in text] + [n for n in peaks if f"`{n}`" not in text
                                                             and f"`tof_high_peak{n}`" not in text]
    assert not missing, f"docs/model.md does not mention {missing}"
