"""The SDC spin tables (CSV, one row per spin) and the spin phase they give at any MET.

The layout (columns, units of the sub-seconds) is read from ``defs/pointing.yaml``. Several files combine by spin
number; where two files give the same spin, the file whose name sorts last wins (the mission's precedence). A
spin's length is the time to the next spin's start when the next row is the next spin, else its
``spin_period_sec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from idex._typing import PathLike
from idex.exceptions import InputError, ProductError
from idex.resources import data_dir, read_yaml

__all__ = ["read_spin_tables", "spin_phase"]

_BOOLEAN = ("spin_period_valid", "spin_phase_valid", "thruster_firing")


def _read_one(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"spin table not found: {path}")
    try:
        table = pd.read_csv(path, comment="#")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ProductError(f"{path}: not a spin-table CSV ({error})") from error
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ProductError(f"{path}: not a spin table in the mission's layout, missing columns {missing}")
    numeric = [c for c in columns if not c.endswith(("_utc", "_utc_corr"))]
    try:
        table[numeric] = table[numeric].astype(float)
    except ValueError as error:
        raise ProductError(f"{path}: a spin-table column is not numeric ({error})") from error
    table["source_file"] = path.name
    return table


def read_spin_tables(paths: Sequence[PathLike], *, corrected: bool = True) -> pd.DataFrame:
    """Read and combine spin tables.

    Parameters
    ----------
    paths : sequence of paths
        CSV files in the SDC layout.
    corrected : bool
        Use the corrected spin start times (``*_corr``, the mission's default).

    Returns
    -------
    pandas.DataFrame
        One row per spin, sorted by ``spin_number``, with ``start_met`` and ``period`` (s) and the validity
        columns as booleans; ``attrs["files"]`` names the files.
    """
    layout = read_yaml(data_dir("defs") / "pointing.yaml")["spin_table"]
    files = sorted((Path(p) for p in paths), key=lambda p: p.name)
    if not files:
        raise InputError("no spin table given")
    table = pd.concat([_read_one(p, layout["columns"]) for p in files], ignore_index=True)
    table = table.drop_duplicates("spin_number", keep="last").sort_values("spin_number", kind="stable")
    suffix = "_corr" if corrected else ""
    start = table[f"spin_start_sec_sclk{suffix}"].to_numpy() + table[
        f"spin_start_subsec_sclk{suffix}"
    ].to_numpy() / float(layout["subsec_per_s"])
    numbers = table["spin_number"].to_numpy()
    nominal = table["spin_period_sec"].to_numpy()
    period = np.append(np.where(np.diff(numbers) == 1, np.diff(start), nominal[:-1]), nominal[-1:])
    out = pd.DataFrame(
        {
            "spin_number": numbers.astype(np.int64),
            "start_met": start,
            "period": period,
            **{c: table[c].to_numpy() != 0 for c in _BOOLEAN},
        }
    )
    out.attrs["files"] = [p.name for p in files]
    return out


def spin_phase(
    table: pd.DataFrame, met: np.ndarray, offset_deg: float, flags: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The instrument's spin phase (deg, [0, 360)) at each MET, and the bit flags of each NaN.

    The spacecraft phase is (MET − spin start) / spin length; the instrument's adds ``offset_deg`` / 360, wrapped
    to [0, 1), then × 360. NaN where no spin covers the time (``OUTSIDE_SPIN_TABLE``), where the spin's phase or
    period is invalid (``SPIN_INVALID``) or where thrusters fire (``THRUSTER_FIRING``).

    Examples
    --------
    >>> table = pd.DataFrame({"spin_number": [1], "start_met": [100.0], "period": [15.0],
    ...                       "spin_period_valid": [True], "spin_phase_valid": [True], "thruster_firing": [False]})
    >>> phase, bits = spin_phase(table, np.array([107.5, 200.0]), 0.0, {"OUTSIDE_SPIN_TABLE": 4,
    ...                          "SPIN_INVALID": 8, "THRUSTER_FIRING": 16})
    >>> phase.tolist(), bits.tolist()
    ([180.0, nan], [0, 4])
    """
    start = table["start_met"].to_numpy()
    period = table["period"].to_numpy()
    row = np.searchsorted(start, met, side="right") - 1
    safe = np.clip(row, 0, len(start) - 1)
    fraction = (met - start[safe]) / period[safe]
    outside = (row < 0) | ~(fraction >= 0) | ~(fraction < 1)
    invalid = ~(table["spin_phase_valid"].to_numpy()[safe] & table["spin_period_valid"].to_numpy()[safe])
    thrusting = table["thruster_firing"].to_numpy()[safe]
    bits = np.where(outside, flags["OUTSIDE_SPIN_TABLE"], 0)
    bits |= np.where(~outside & invalid, flags["SPIN_INVALID"], 0)
    bits |= np.where(~outside & thrusting, flags["THRUSTER_FIRING"], 0)
    phase = ((fraction + offset_deg / 360.0) % 1) * 360.0
    return np.where(bits == 0, phase, np.nan), bits
