"""Exposure: when IDEX was acquiring science, per accumulation window, from its event messages (APID 1418).

Acquisition turns on at the message ``SCI state change: …(ACQSETUP) ==> …(ACQ)`` and off at ``…(ACQ) ==> …(CHILL)``
(texts in ``defs/l2_products.yaml``; official L1b message files give the same as ``science_on`` 1/0). A state holds
until the next such message. The state at a window's start is the state of the last message before it; with no
earlier message the time before the window's first message is *unknown*: not counted as on, reported in
``unknown_state_seconds`` and ``state_at_start_known`` (the mission's pipeline guesses the opposite of the first
message instead).

Time per spin-phase quadrant: with spin tables, each acquisition interval is cut by the spins and the phase swept in
each quadrant is integrated exactly (spins whose phase is invalid or thrusting go to no quadrant); without them the
quadrants share the time equally, and the attributes say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from idex.exceptions import InputError, MissingKeyError
from idex.resources import data_dir, read_yaml
from idex.science.pointing import facts, utc_to_tt2000

__all__ = ["Exposure", "dead_seconds", "exposure", "spec", "transitions", "window_edges"]


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The L2B/L2C facts of ``defs/l2_products.yaml``."""
    return read_yaml(data_dir("defs") / "l2_products.yaml")


def transitions(messages: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Times (``datetime64[ns]``, sorted, unique) and states (1 on, 0 off) of the acquisition messages.

    ``messages`` has an ``epoch`` and either a ``message_text`` (decoded captures), ``messages`` (official L1a msg
    CDFs) or ``science_on`` (official L1b msg CDFs; other values than 0/1 are not transitions).
    """
    texts = spec()["acquisition"]
    epoch = np.asarray(messages["epoch"].values, dtype="datetime64[ns]")
    if "science_on" in messages:
        state = np.asarray(messages["science_on"].values).astype(np.int64)
    else:
        name = "message_text" if "message_text" in messages else "messages"
        if name not in messages:
            raise MissingKeyError("the messages have neither message_text, messages nor science_on")
        text = np.asarray(messages[name].values).astype(str)
        state = np.where(np.isin(text, texts["on_messages"]), 1, np.where(np.isin(text, texts["off_messages"]), 0, -1))
    keep = (state == 0) | (state == 1)
    epoch, state = epoch[keep], state[keep]
    order = np.argsort(epoch, kind="stable")
    epoch, state = epoch[order], state[order]
    first = np.ones(epoch.size, dtype=bool)
    first[1:] = epoch[1:] != epoch[:-1]
    return epoch[first], state[first].astype(np.int8)


def window_edges(windows: str | Any, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and ends (``datetime64[ns]``) covering ``times``.

    ``"official"``: the mission's schedule (``defs/idex_10day_windows.csv``); a pandas frequency (``"10d"``,
    ``"1D"``, ``"MS"``): consecutive windows from the first day; else explicit edges (n + 1 times).
    """
    times = np.asarray(times, dtype="datetime64[ns]")
    if not isinstance(windows, str):
        edges = np.asarray(windows, dtype="datetime64[ns]")
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= np.timedelta64(0)):
            raise InputError("explicit window edges must be at least two increasing times")
        return edges[:-1], edges[1:]
    if times.size == 0:
        raise InputError("no events or messages to place windows around")
    first, last = times.min(), times.max()
    if windows == "official":
        table = pd.read_csv(data_dir("defs") / "idex_10day_windows.csv", dtype=str)
        starts = pd.to_datetime(table["start_date"], format="%Y%m%d").to_numpy("datetime64[ns]")
        ends = pd.to_datetime(table["end_date"], format="%Y%m%d").to_numpy("datetime64[ns]")
        use = (ends > first) & (starts <= last)
        if not use.any():
            raise InputError(f"the official window schedule ({starts[0]} to {ends[-1]}) does not cover {first}–{last}")
        return starts[use], ends[use]
    windows = re.sub(r"(?<=\d)d$", "D", windows)  # "10d" as the issue and users write it; pandas wants "10D"
    try:
        edges = pd.date_range(pd.Timestamp(first).floor("D"), periods=2, freq=windows)
    except ValueError as error:
        raise InputError(f"windows={windows!r}: not 'official', a pandas frequency or explicit edges") from error
    step_edges = pd.date_range(edges[0], pd.Timestamp(last) + (edges[1] - edges[0]), freq=windows)
    step_edges = step_edges[: int(np.searchsorted(step_edges.to_numpy("datetime64[ns]"), last, side="right")) + 1]
    values = step_edges.to_numpy("datetime64[ns]")
    return values[:-1], values[1:]


def utc_to_met(times: np.ndarray) -> np.ndarray:
    """UTC ``datetime64[ns]`` → IMAP MET seconds (SI seconds since ``met_epoch_utc`` of ``defs/pointing.yaml``)."""
    zero = utc_to_tt2000(np.array([facts()["met_epoch_utc"]], dtype="datetime64[ns]"))[0]
    return (utc_to_tt2000(np.asarray(times, dtype="datetime64[ns]")) - zero) / 1e9


@dataclass(frozen=True)
class Exposure:
    """Acquisition time per window: ``on_seconds`` (n), ``quadrant_seconds`` (n, 4), ``unknown_seconds`` (n),
    ``state_known`` (n), the acquisition intervals cut at the window edges (``interval_starts``, ``interval_ends``),
    how the quadrant time was found, and until when each window's state is unknown (``unknown_until``)."""

    window_start: np.ndarray
    window_end: np.ndarray
    on_seconds: np.ndarray
    quadrant_seconds: np.ndarray
    unknown_seconds: np.ndarray
    state_known: np.ndarray
    interval_starts: np.ndarray
    interval_ends: np.ndarray
    quadrant_method: str
    unknown_until: np.ndarray

    def state_unknown_at(self, times: np.ndarray, window: np.ndarray) -> np.ndarray:
        """True where ``times`` (in windows ``window``) precede the first message of a window of unknown start."""
        return times < self.unknown_until[window]

    def state_at(self, times: np.ndarray) -> np.ndarray:
        """1 where ``times`` fall in an acquisition interval, else 0."""
        if self.interval_starts.size == 0:
            return np.zeros(np.shape(times), dtype=np.int8)
        index = np.searchsorted(self.interval_starts, times, side="right") - 1
        inside = (index >= 0) & (times < self.interval_ends[np.maximum(index, 0)])
        return inside.astype(np.int8)


def exposure(
    messages: xr.Dataset,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    spin_table: pd.DataFrame | None = None,
    spin_offset_deg: float = 0.0,
) -> Exposure:
    """Acquisition on-time of each window [start, end) from the messages (see the module's description)."""
    times, states = transitions(messages)
    on_starts, on_ends, unknown, known = [], [], np.zeros(starts.size), np.zeros(starts.size, dtype=bool)
    unknown_until = np.array(starts, dtype="datetime64[ns]")
    for w, (start, end) in enumerate(zip(starts, ends, strict=True)):
        before = np.searchsorted(times, start, side="right") - 1
        inside = slice(np.searchsorted(times, start, side="right"), np.searchsorted(times, end, side="left"))
        cut = np.concatenate([[start], times[inside], [end]])
        state = np.concatenate([[states[before] if before >= 0 else -1], states[inside]])
        known[w] = before >= 0
        durations = (cut[1:] - cut[:-1]).astype(np.float64) / 1e9
        unknown[w] = durations[state == -1].sum()
        if not known[w]:
            unknown_until[w] = cut[1]
        on_starts.append(cut[:-1][state == 1])
        on_ends.append(cut[1:][state == 1])
    interval_starts = np.concatenate(on_starts) if on_starts else np.array([], "datetime64[ns]")
    interval_ends = np.concatenate(on_ends) if on_ends else np.array([], "datetime64[ns]")
    window = np.searchsorted(ends, interval_starts, side="right")
    seconds = (interval_ends - interval_starts).astype(np.float64) / 1e9
    on_seconds = np.bincount(window, seconds, minlength=starts.size)[: starts.size]
    if spin_table is None:
        quadrants = np.repeat(on_seconds[:, None] / 4.0, 4, axis=1)
        method = "no spin table: acquisition time shared equally by the four quadrants (uniform spin assumed)"
    else:
        per_interval = _quadrant_seconds(
            utc_to_met(interval_starts), utc_to_met(interval_ends), spin_table, spin_offset_deg
        )
        quadrants = np.stack(
            [np.bincount(window, per_interval[:, q], minlength=starts.size)[: starts.size] for q in range(4)], axis=1
        )
        method = (
            f"integrated over the spins of spin tables {', '.join(spin_table.attrs.get('files', []))}; "
            "invalid or thrusting spins and times outside the tables are in no quadrant"
        )
    return Exposure(
        starts, ends, on_seconds, quadrants, unknown, known, interval_starts, interval_ends, method, unknown_until
    )


def dead_seconds(exposure: Exposure, epoch: np.ndarray, dead_time_s: np.ndarray) -> np.ndarray:
    """Seconds of each window's acquisition during which the instrument was dead after an event it recorded.

    Every recorded event (dust or not) inside an acquisition interval blocks triggering for its ``dead_time``,
    cut at the interval's end; events with an unknown (NaN) dead time add nothing.
    """
    n = exposure.window_start.size
    if exposure.interval_starts.size == 0 or epoch.size == 0:
        return np.zeros(n)
    index = np.searchsorted(exposure.interval_starts, epoch, side="right") - 1
    safe = np.maximum(index, 0)
    inside = (index >= 0) & (epoch < exposure.interval_ends[safe])
    remaining = (exposure.interval_ends[safe] - epoch).astype(np.float64) / 1e9
    dead = np.where(inside & np.isfinite(dead_time_s), np.minimum(np.nan_to_num(dead_time_s), remaining), 0.0)
    window = np.searchsorted(exposure.window_end, epoch, side="right")
    use = inside & (window < n)
    return np.bincount(window[use], dead[use], minlength=n)[:n]


def _quadrant_seconds(start_met: np.ndarray, end_met: np.ndarray, table: pd.DataFrame, offset_deg: float) -> np.ndarray:
    """Seconds of each [start, end) interval spent in each quadrant, integrating the phase spin by spin."""
    lower = np.asarray(spec()["spin_phase_edges_deg"][0], dtype=float)
    good = (
        table["spin_phase_valid"].to_numpy()
        & table["spin_period_valid"].to_numpy()
        & ~table["thruster_firing"].to_numpy()
    )
    spin_start = table["start_met"].to_numpy()[good]
    period = table["period"].to_numpy()[good]
    out = np.zeros((start_met.size, 4))
    for i, (a, b) in enumerate(zip(start_met, end_met, strict=True)):
        lo = np.maximum(a, spin_start)
        hi = np.minimum(b, spin_start + period)
        use = hi > lo
        # quadrant coordinate: instrument phase shifted so that the quadrants are [0, .25), [.25, .5), ...
        shift = (offset_deg - lower) / 360.0
        pa = (lo[use] - spin_start[use]) / period[use] + shift
        pb = (hi[use] - spin_start[use]) / period[use] + shift
        for q in range(4):
            out[i, q] = np.sum(period[use] * (_swept(pb, q) - _swept(pa, q)))
    return out


def _swept(phase: np.ndarray, quadrant: int) -> np.ndarray:
    """Turns spent in ``quadrant`` between phase 0 and ``phase`` (in turns)."""
    whole = np.floor(phase)
    return whole * 0.25 + np.clip(phase - whole - 0.25 * quadrant, 0.0, 0.25)
