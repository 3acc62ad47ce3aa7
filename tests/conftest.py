"""Shared fixtures: the real captures (bytes and decoded trees) and the official products."""

from __future__ import annotations

from pathlib import Path

import pytest

import idex

DATA = Path(__file__).parent / "data"
CAPTURE_2023_07 = DATA / "imap_idex_l0_raw_20230725_v001.pkts"
CAPTURE_2023_12 = DATA / "imap_idex_l0_raw_20231214_v001.pkts"
L1A_2023_12 = DATA / "imap_idex_l1a_sci-10days_20231214_v001.0001.cdf"
L1B_2023_12 = DATA / "imap_idex_l1b_sci-10days_20231214_v001.0001.cdf"
IMPACT_14 = DATA / "impact_14_tof_high_data.txt"


@pytest.fixture(scope="session")
def tree_2023_07():
    return idex.open_raw(CAPTURE_2023_07)


@pytest.fixture(scope="session")
def tree_2023_12():
    return idex.open_raw(CAPTURE_2023_12)


@pytest.fixture(scope="session")
def events_2023_07(tree_2023_07):
    return tree_2023_07["events"].to_dataset()


@pytest.fixture(scope="session")
def events_2023_12(tree_2023_12):
    return tree_2023_12["events"].to_dataset()


@pytest.fixture(scope="session")
def bytes_2023_12() -> bytes:
    return CAPTURE_2023_12.read_bytes()


@pytest.fixture(scope="session")
def bytes_2023_07() -> bytes:
    return CAPTURE_2023_07.read_bytes()
