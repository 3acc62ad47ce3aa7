"""Pointing per event from the user's SPICE kernels and spin tables: the mission's L1B "SPICE arrays".

For every event: IMAP's heliocentric state (``ephemeris_position_x/y/z`` in km, ``ephemeris_velocity_x/y/z`` in
km/s, ECLIPJ2000), the IDEX boresight as ``longitude``/``latitude`` (deg, ECLIPJ2000), ``solar_longitude`` (deg) and
``spin_phase`` (deg, from the SDC spin tables with IDEX's offset). Frame names, bodies, the boresight and the offset
are read from ``defs/pointing.yaml``. The time path is the mission's: UTC ``epoch`` → TT2000 ns (exact integers,
``defs/leap_seconds.csv``) → ET (``unitim``) → MET through the SCLK kernel.

What a kernel or the spin table does not cover is NaN for that event only, with the reason in the bit flags of
``pointing_flags`` (and one warning giving the counts), never an error for the whole collection:

==========================  ===========================================================
irregularity                outcome
==========================  ===========================================================
SPK does not cover          ephemeris and solar longitude NaN, ``NO_EPHEMERIS``
no attitude (CK gap)        longitude and latitude NaN, ``NO_ATTITUDE``
no spin-table row           spin phase NaN, ``OUTSIDE_SPIN_TABLE``
spin phase/period invalid   spin phase NaN, ``SPIN_INVALID``
thrusters firing            spin phase NaN, ``THRUSTER_FIRING`` (the pipeline keeps it)
no LSK among the kernels    :class:`~idex.exceptions.ProductError` naming the kernels
==========================  ===========================================================
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import IdexWarning, InputError, ProductError
from idex.extras import require
from idex.resources import data_dir, read_yaml
from idex.science.spin_table import read_spin_tables, spin_phase

__all__ = ["facts", "pointing", "utc_to_tt2000"]

_J2000_UTC = np.datetime64("2000-01-01T11:58:55.816", "ns")  # TT2000 zero, as UTC
_TAI_UTC_AT_J2000 = 32


@lru_cache(maxsize=1)
def facts() -> dict[str, Any]:
    """The pointing facts of ``defs/pointing.yaml`` (frames, bodies, boresight, spin offset, flags, attributes)."""
    return read_yaml(data_dir("defs") / "pointing.yaml")


@lru_cache(maxsize=1)
def _leap_table() -> tuple[np.ndarray, np.ndarray]:
    lines = (data_dir("defs") / "leap_seconds.csv").read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines if line and not line.startswith(("#", "date"))]
    return np.array([r[0] for r in rows], dtype="datetime64[ns]"), np.array([int(r[1]) for r in rows])


def utc_to_tt2000(epoch: np.ndarray) -> np.ndarray:
    """UTC ``datetime64[ns]`` → TT2000 nanoseconds (int64), exactly as CDF's TT2000 counts them (after 1972).

    Examples
    --------
    >>> int(utc_to_tt2000(np.array(["2025-06-15"], dtype="datetime64[ns]"))[0])
    803217669184000000
    """
    dates, tai_utc = _leap_table()
    index = np.searchsorted(dates, epoch, side="right") - 1
    offset = np.where(index >= 0, tai_utc[np.maximum(index, 0)], 10) - _TAI_UTC_AT_J2000
    return (epoch - _J2000_UTC).astype(np.int64) + offset.astype(np.int64) * 1_000_000_000


def _as_paths(value: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    return [Path(v) for v in value]


def _kernel_paths(kernels: PathLike | Sequence[PathLike]) -> list[Path]:
    paths = _as_paths(kernels)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"SPICE kernel(s) not found: {', '.join(missing)}")
    return paths


def _spiceypy() -> Any:
    return require("spiceypy", "pointing (idex pointing, ds.idex.pointing())")


def _per_event(function: Any, ets: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``function(et)`` for each ET, NaN (and False in the second array) where SPICE has no data."""
    spiceypy = _spiceypy()

    out = np.full((ets.size, width), np.nan)
    ok = np.zeros(ets.size, dtype=bool)
    for i, et in enumerate(ets):
        try:
            out[i] = np.ravel(function(float(et)))
            ok[i] = True
        except spiceypy.utils.exceptions.SpiceyError:
            pass
    return out, ok


def pointing(
    ds: xr.Dataset,
    kernels: PathLike | Sequence[PathLike] | None = None,
    spin_tables: Sequence[PathLike] | PathLike | None = None,
    *,
    use_corrected_spin_start: bool = True,
) -> xr.Dataset:
    """Add the mission's L1B pointing variables (and ``pointing_flags``) to an event Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Events with an ``epoch`` coordinate (UTC ``datetime64``) along ``event``.
    kernels : path or sequence of paths, optional
        SPICE kernels or a meta-kernel (LSK, IMAP SCLK, FK, attitude CK, IMAP SPK); furnished for this call and
        unloaded after it. Default: the paths in the environment variable ``IDEX_SPICE_KERNELS``
        (separated by ``os.pathsep``), e.g. set once in the user's shell profile.
    spin_tables : path or sequence of paths, optional
        SDC spin-table CSV files (default: ``IDEX_SPIN_TABLES``, like ``IDEX_SPICE_KERNELS``); without any,
        ``spin_phase`` is NaN with ``OUTSIDE_SPIN_TABLE``.
    use_corrected_spin_start : bool
        Use the corrected spin start times (the mission's default).

    Returns
    -------
    xarray.Dataset
        ``ds`` with the ten official variables (official names and attributes) and ``pointing_flags``.
    """
    spiceypy = _spiceypy()
    spec = facts()
    if kernels is None or (not isinstance(kernels, (str, os.PathLike)) and len(kernels) == 0):
        kernels = [p for p in os.environ.get("IDEX_SPICE_KERNELS", "").split(os.pathsep) if p]
        if not kernels:
            raise InputError("no SPICE kernels: pass kernels=... or set IDEX_SPICE_KERNELS")
    if spin_tables is None:
        spin_tables = [p for p in os.environ.get("IDEX_SPIN_TABLES", "").split(os.pathsep) if p] or None
    paths = _kernel_paths(kernels)
    tables = None
    if spin_tables is not None:
        tables = read_spin_tables(_as_paths(spin_tables), corrected=use_corrected_spin_start)
    epoch = np.asarray(ds["epoch"].values, dtype="datetime64[ns]").ravel()
    tt_seconds = utc_to_tt2000(epoch).astype(np.float64) / 1e9
    for path in paths:
        spiceypy.furnsh(str(path))
    try:
        try:
            ets = np.array([spiceypy.unitim(t, "TT", "ET") for t in tt_seconds])
        except spiceypy.utils.exceptions.SpiceyError as error:
            raise ProductError(f"no leapseconds kernel among {', '.join(map(str, paths))}: {error.short}") from error
        state, has_state = _per_event(
            lambda et: spiceypy.spkezr(
                spec["target"], et, spec["reference_frame"], spec["aberration_correction"], spec["observer"]
            )[0],
            ets,
            6,
        )
        boresight = np.asarray(spec["boresight"], dtype=float)
        rotation, has_look = _per_event(
            lambda et: spiceypy.pxform(spec["instrument_frame"], spec["reference_frame"], et), ets, 9
        )
        look = rotation.reshape(-1, 3, 3) @ boresight
        ticks, has_clock = _per_event(lambda et: spiceypy.sce2c(spec["sclk_id"], et), ets, 1)
    finally:
        for path in paths:
            spiceypy.unload(str(path))
    met = ticks[:, 0] * float(spec["sclk_tick_s"])
    flag = spec["flags"]
    flags = np.where(has_state, 0, flag["NO_EPHEMERIS"]) | np.where(has_look, 0, flag["NO_ATTITUDE"])
    if tables is None:
        phase = np.full(met.size, np.nan)
        flags |= flag["OUTSIDE_SPIN_TABLE"]
    else:
        phase, spin_flags = spin_phase(tables, met, float(spec["spin_phase_offset_deg"]), flag)
        flags |= np.where(has_clock, spin_flags, flag["NO_CLOCK"])
        phase[~has_clock] = np.nan
    solar = np.degrees(np.arctan2(state[:, 1], state[:, 0]))  # reclat's longitude of the Sun-to-IMAP vector
    norm = np.linalg.norm(look, axis=1)
    longitude = np.degrees(np.arctan2(look[:, 1], look[:, 0])) % 360.0
    latitude = np.degrees(np.arcsin(look[:, 2] / norm))
    values = {
        "ephemeris_position_x": state[:, 0],
        "ephemeris_position_y": state[:, 1],
        "ephemeris_position_z": state[:, 2],
        "ephemeris_velocity_x": state[:, 3],
        "ephemeris_velocity_y": state[:, 4],
        "ephemeris_velocity_z": state[:, 5],
        "longitude": longitude,
        "latitude": latitude,
        "solar_longitude": solar,
        "spin_phase": phase,
    }
    provenance = f"idex pointing from SPICE kernels {', '.join(p.name for p in paths)}" + (
        f" and spin tables {', '.join(str(t) for t in tables.attrs['files'])}" if tables is not None else ""
    )
    out = {
        name: (
            "event",
            values[name].reshape(ds["epoch"].shape) if ds["epoch"].ndim else values[name],
            _attrs(name, spec["variables"][name], provenance),
        )
        for name in values
    }
    meanings = sorted(flag, key=flag.get)
    out["pointing_flags"] = (
        "event",
        flags.astype(np.uint8),
        {
            "long_name": "Pointing quality bits (0: every pointing variable computed)",
            "flag_masks": np.array([flag[m] for m in meanings], dtype=np.uint8),
            "flag_meanings": " ".join(m.lower() for m in meanings),
            "pointing_source": provenance,
        },
    )
    _warn_uncovered(flags, flag, paths)
    return ds.assign(out)


def _attrs(name: str, entry: dict[str, Any], provenance: str) -> dict[str, Any]:
    attrs = {k: v for k, v in entry.items() if k != "units"}
    return {
        "long_name": entry["CATDESC"],
        "units": entry["units"],
        "official_name": name,
        "pointing_source": provenance,
        "LABLAXIS": entry["FIELDNAM"],
        **attrs,
    }


def _warn_uncovered(flags: np.ndarray, flag: dict[str, int], paths: list[Path]) -> None:
    counts = {name.lower(): int(np.count_nonzero(flags & bit)) for name, bit in flag.items()}
    counts = {name: n for name, n in counts.items() if n}
    if counts:
        detail = ", ".join(f"{n} {name}" for name, n in counts.items())
        warnings.warn(
            f"pointing incomplete for {int(np.count_nonzero(flags))} of {flags.size} events ({detail}); "
            f"those values are NaN (kernels: {', '.join(p.name for p in paths)})",
            IdexWarning,
            stacklevel=3,
        )
