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
