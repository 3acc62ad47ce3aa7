"""Helpers for tests, doctests and tutorials: the bundled real captures."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from idex.exceptions import InputError

__all__ = ["SAMPLE_CAPTURES", "sample_capture"]

SAMPLE_CAPTURES = {
    "2023_07": "imap_idex_l0_raw_20230725_v001.pkts",
    "2023_12": "imap_idex_l0_raw_20231214_v001.pkts",
}
"""Real ground captures shipped with idex (see ``tests/data/SOURCE.md``), by packet version."""


def sample_capture(version: str = "2023_12") -> Path:
    """Path of a bundled real IDEX capture.

    Parameters
    ----------
    version : {"2023_12", "2023_07"}
        Packet version: 14 events of 2023-12-14 or 19 events of 2023-07-25.

    Returns
    -------
    pathlib.Path
    """
    if version not in SAMPLE_CAPTURES:
        raise InputError(f"unknown sample {version!r}; choose one of {sorted(SAMPLE_CAPTURES)}")
    name = SAMPLE_CAPTURES[version]
    packaged = Path(str(resources.files("idex"))) / "_data" / "samples" / name
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "tests" / "data" / name
