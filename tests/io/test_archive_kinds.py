"""An archive of every official product kind: rate products (L2B/L2C) hold no events and are skipped with a word;
L2A events (no packet schema) and telemetry events are refused together with the true reason."""

from __future__ import annotations

import shutil

import pytest
from conftest import DATA, L1A_2023_12

import idex
from idex.exceptions import IdexWarning, ProductError

L2B = DATA / "imap_idex_l2b_sci-10days_20250609_v001.0001.cdf"
L2C = DATA / "imap_idex_l2c_rectangular-map-10days_20250609_v001.0001.cdf"
L2A = DATA / "imap_idex_l2a_sci-10days_20231214_v001.cdf"


def test_rate_products_are_skipped_with_a_word(tmp_path):
    for name in (L1A_2023_12, L2B, L2C):
        shutil.copy(name, tmp_path)
    with pytest.warns(IdexWarning) as caught:
        ds = idex.open_products(str(tmp_path / "*.cdf"))
    message = " ".join(str(w.message) for w in caught)
    assert "2 of 3 files skipped" in message
    assert "imap_idex_l2b_sci-10days product" in message and "imap_idex_l2c" in message
    assert ds.sizes["event"] == 14 and ds.attrs["files_skipped"] == 2


def test_l2a_and_telemetry_events_are_refused_with_the_true_reason():
    with pytest.raises(ProductError, match="imap_idex_l2a_sci-10days products") as raised:
        idex.open_products([L1A_2023_12, L2A])
    assert "scope" not in str(raised.value)
