"""Build a small, deterministic set of SPICE kernels and spin tables for a spinning IMAP, for the pointing tests.

Run by ``tests/oracles/pointing_official.py`` (which stores the files in ``tests/data/spice/``): an LSK and an IMAP
SCLK (20 µs ticks, MET zero at 2010-01-01T00:00:00 UTC) written as text, an FK (``IMAP_SPACECRAFT`` as a CK frame,
``IMAP_IDEX`` a fixed offset from it), an SPK type 13 of a heliocentric orbit (Sun-centred, ECLIPJ2000, from
two-body conics) and a CK type 3 of a spacecraft spinning at 4 rpm about an axis near the Sun direction, with a gap
in attitude coverage; and the spin table in the mission's CSV layout, split over two files, with one spin whose
phase is invalid, one whose period is invalid and one with thrusters firing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import spiceypy

START_UTC = "2025-06-15T00:00:00"
SPAN_S = 1200.0
SPIN_PERIOD_S = 15.0
CK_GAP_S = (600.0, 660.0)  # attitude missing between these offsets from the start
SPK_END_S = 1100.0  # ephemeris ends here
SPIN_TABLE_START_S = -30.0  # spin table starts here
N_SPINS = 80
INVALID = {"spin_phase_valid": 10, "spin_period_valid": 20, "thruster_firing": 30}
DEFS = Path(__file__).resolve().parents[1] / "defs"

_SCLK = """\\begindata
SCLK_KERNEL_ID           = ( @2010-01-01/00:00:00 )
SCLK_DATA_TYPE_43        = ( 1 )
SCLK01_TIME_SYSTEM_43    = ( 2 )
SCLK01_N_FIELDS_43       = ( 2 )
SCLK01_MODULI_43         = ( 4294967296 50000 )
SCLK01_OFFSETS_43        = ( 0 0 )
SCLK01_OUTPUT_DELIM_43   = ( 1 )
SCLK_PARTITION_START_43  = ( 0.0 )
SCLK_PARTITION_END_43    = ( 2.1474836480000E+14 )
SCLK01_COEFFICIENTS_43   = ( 0.0 315576066.184 1.0 )
\\begintext
"""

_FK = """\\begindata
NAIF_BODY_NAME          += ( 'IMAP' )
NAIF_BODY_CODE          += ( -43 )
FRAME_IMAP_SPACECRAFT    = -43000
FRAME_-43000_NAME        = 'IMAP_SPACECRAFT'
FRAME_-43000_CLASS       = 3
FRAME_-43000_CLASS_ID    = -43000
FRAME_-43000_CENTER      = -43
CK_-43000_SCLK           = -43
CK_-43000_SPK            = -43
FRAME_IMAP_IDEX          = -43700
FRAME_-43700_NAME        = 'IMAP_IDEX'
FRAME_-43700_CLASS       = 4
FRAME_-43700_CLASS_ID    = -43700
FRAME_-43700_CENTER      = -43
TKFRAME_-43700_RELATIVE  = 'IMAP_SPACECRAFT'
TKFRAME_-43700_SPEC      = 'ANGLES'
TKFRAME_-43700_UNITS     = 'DEGREES'
TKFRAME_-43700_AXES      = ( 3, 1, 3 )
TKFRAME_-43700_ANGLES    = ( -90.0, 40.0, 12.5 )
\\begintext
"""


def _lsk() -> str:
    rows = [
        line.split(",")
        for line in (DEFS / "leap_seconds.csv").read_text().splitlines()
        if line and not line.startswith(("#", "date"))
    ]
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    steps = ["10, @1972-JAN-1"] + [f"{n}, @{d[:4]}-{months[int(d[5:7]) - 1]}-1" for d, n in rows]
    return (
        "\\begindata\nDELTET/DELTA_T_A = 32.184\nDELTET/K = 1.657D-3\nDELTET/EB = 1.671D-2\n"
        "DELTET/M = ( 6.239996D0 1.99096871D-7 )\nDELTET/DELTA_AT = ( " + ",\n  ".join(steps) + " )\n\\begintext\n"
    )


def write_kernels(directory: Path) -> dict[str, Path]:
    """Write the kernels and spin tables into ``directory``; return their paths by kind."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "lsk": directory / "test.tls",
        "sclk": directory / "imap_test.tsc",
        "fk": directory / "imap_test.tf",
        "spk": directory / "imap_test.bsp",
        "ck": directory / "imap_test_spin.bc",
    }
    paths["lsk"].write_text(_lsk())
    paths["sclk"].write_text(_SCLK)
    paths["fk"].write_text(_FK)
    spiceypy.kclear()
    for kind in ("lsk", "sclk", "fk"):
        spiceypy.furnsh(str(paths[kind]))
    et0 = spiceypy.str2et(START_UTC)
    _write_spk(paths["spk"], et0)
    _write_ck(paths["ck"], et0)
    met0 = spiceypy.sce2c(-43, et0) * 2e-5
    paths["spin_a"], paths["spin_b"] = directory / "imap_2025_166_01.spin.csv", directory / "imap_2025_166_02.spin.csv"
    _write_spin_tables(paths["spin_a"], paths["spin_b"], met0)
    spiceypy.kclear()
    return paths


def _write_spk(path: Path, et0: float) -> None:
    path.unlink(missing_ok=True)
    epochs = et0 + np.arange(-120.0, SPK_END_S + 1.0, 60.0)
    epochs[-1] = et0 + SPK_END_S
    elements = [
        1.475e8 * (1 - 0.0167),
        0.0167,
        np.radians(0.02),
        np.radians(11.0),
        np.radians(102.9),
        0.7,
        et0,
        1.32712440018e11,
    ]
    states = np.array([spiceypy.conics(elements, et) for et in epochs])
    handle = spiceypy.spkopn(str(path), "idex test SPK", 0)
    spiceypy.spkw13(handle, -43, 10, "ECLIPJ2000", epochs[0], epochs[-1], "IMAP helio", 7, len(epochs), states, epochs)
    spiceypy.spkcls(handle)


def _attitude(seconds: np.ndarray) -> np.ndarray:
    """C-matrices ECLIPJ2000 -> IMAP_SPACECRAFT: spin axis near the Sun direction, 4 rpm about it."""
    base = spiceypy.eul2m(np.radians(4.0), np.radians(-90.0 + 2.0), np.radians(255.0), 3, 2, 3)
    rate = 2 * np.pi / SPIN_PERIOD_S
    return np.array([spiceypy.mxm(spiceypy.rotate(rate * s + 0.3, 3), base) for s in seconds])


def _write_ck(path: Path, et0: float) -> None:
    path.unlink(missing_ok=True)
    seconds = np.arange(-60.0, SPAN_S + 61.0, 2.0)
    seconds = seconds[(seconds <= CK_GAP_S[0]) | (seconds >= CK_GAP_S[1])]
    ticks = np.array([spiceypy.sce2c(-43, et0 + s) for s in seconds])
    quats = np.array([spiceypy.m2q(m) for m in _attitude(seconds)])
    avvs = np.tile([0.0, 0.0, 2 * np.pi / SPIN_PERIOD_S], (len(seconds), 1))
    starts = ticks[[0, int(np.searchsorted(seconds, CK_GAP_S[1]))]]
    handle = spiceypy.ckopn(str(path), "idex test CK", 0)
    spiceypy.ckw03(
        handle, ticks[0], ticks[-1], -43000, "ECLIPJ2000", True, "IMAP spin", len(ticks), ticks, quats, avvs, 2, starts
    )
    spiceypy.ckcls(handle)


def _write_spin_tables(first: Path, second: Path, met0: float) -> None:
    columns = [
        "spin_number",
        "spin_start_sec_sclk",
        "spin_start_subsec_sclk",
        "spin_start_utc",
        "spin_start_sec_sclk_corr",
        "spin_start_subsec_sclk_corr",
        "spin_start_utc_corr",
        "spin_period_sec",
        "spin_period_valid",
        "spin_phase_valid",
        "spin_period_source",
        "thruster_firing",
    ]
    periods = SPIN_PERIOD_S + 0.004 * np.sin(np.arange(N_SPINS))
    starts = met0 + SPIN_TABLE_START_S + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    rows = []
    for number, (start, period) in enumerate(zip(starts, periods, strict=True)):
        sec, sub = divmod(int(round(start * 1e6)), 1_000_000)
        csec, csub = divmod(int(round((start + 0.0025) * 1e6)), 1_000_000)
        flags = {name: (number == spin) for name, spin in INVALID.items()}
        rows.append(
            [
                1000 + number,
                sec,
                sub,
                "",
                csec,
                csub,
                "",
                f"{period:.6f}",
                int(not flags["spin_period_valid"]),
                int(not flags["spin_phase_valid"]),
                0,
                int(flags["thruster_firing"]),
            ]
        )
    for path, part in ((first, rows[: N_SPINS // 2]), (second, rows[N_SPINS // 2 :])):
        with path.open("w", newline="") as stream:
            stream.write("# idex test spin table (synthetic), mission CSV layout\n")
            writer = csv.writer(stream)
            writer.writerow(columns)
            writer.writerows(part)


def event_times(n: int = 60) -> list[str]:
    """UTC times (ISO, µs) of the test events: most covered, some before the spin table, in the CK gap, after
    the SPK."""
    rng = np.random.default_rng(24)
    offsets = np.sort(
        np.concatenate([rng.uniform(0.0, SPAN_S - 150.0, n - 6), [-45.0, -40.0, 610.0, 630.0, 1150.0, 1160.0]])
    )
    start = np.datetime64(START_UTC, "us")
    return [str(start + np.timedelta64(int(round(o * 1e6)), "us")) for o in offsets]
