"""Dust, noise or pulser, and which channels saturated: the mission's event classification, explained.

The rules are the mission pipeline's (imap-processing 1.0.40, ``idex_event_flags.py``); every threshold,
window, reference baseline and trigger bit comes from the schema's ``classification`` section, so an
analyst tunes them in a copy of the schema, not here.

- **Event type** (vectorised): the *active* channels are those whose trigger-id bit is set, plus each TOF
  gain whose trigger mode is not 0. No active channel, or a software/external trigger with only TOF High
  active, is a **noise capture**; only TOF High active with the pulser's mode and threshold is the
  **pulser**; everything else is a **science event**.
- **Saturation** (vectorised): a channel saturated when a finite sample reaches the configured fraction of
  its full scale.
- **Dust hit** (science events only, per event: ``scipy.signal.find_peaks`` decides peak positions exactly
  as the mission does): on each TOF gain, baseline and robust noise from the first microseconds, peaks
  above height and prominence thresholds, saturated runs merged to one peak, each peak's full width at half
  maximum measured on the highest gain where it is not saturated. Dust when one gain has at least
  ``min_peaks`` peaks of at least ``min_width_us``, or the high gain has a single peak of at least
  ``single_peak_width_us``; failing that, gains whose baseline was cut off (far from its reference) are
  re-tested with the reference baseline and noise.

Besides the ten flags, the quantities behind each decision are returned (baseline, noise, qualifying peaks
and the widest peak per gain, active channels, which rule decided), so a decision can be checked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.signal import find_peaks

from idex.schema import ClassificationSpec, DustSpec, Schema

__all__ = ["DECIDED_BY", "classify"]

UNKNOWN = np.uint8(255)
"""Flag value of events without a header packet (the trigger information is missing)."""

_BLOCK = 32
"""Events whose TOF waveforms are converted to float at a time (memory stays a few MB whatever the capture)."""
_FWHM_REACH = 64
"""Samples each side of a peak searched first for its half-maximum crossings."""

DECIDED_BY = ("not_science", "not_dust", "two_peaks_in_one_gain", "single_wide_high_gain_peak",
              "two_peaks_after_truncated_baseline")
"""Meanings of ``dust_decided_by`` (its values are the positions in this tuple)."""


@dataclass
class _Gain:
    """One TOF gain of one event during a pass: corrected waveform, noise, and its merged peaks."""

    raw: np.ndarray
    corrected: np.ndarray
    baseline: float
    sigma: float
    peaks: np.ndarray


def classify(ds: xr.Dataset, schema: Schema) -> dict[str, tuple]:
    """The ten mission flags and the quantities behind them, for every event of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model (raw waveforms in counts, trigger fields, time coordinates).
    schema : Schema
        Schema with a ``classification`` section.

    Returns
    -------
    dict
        ``name -> (dims, values, attrs)`` for ``xarray.Dataset.assign``.
    """
    spec = schema.classification
    assert spec is not None
    n = ds.sizes["event"]
    out: dict[str, tuple] = {}
    has_header = np.isfinite(ds[schema.channels[spec.dust.channels[0]].trigger_time].values)
    kinds, active, software = _event_types(ds, spec)
    names = {"science": "science_event_flag", "noise": "noise_capture_flag", "pulser": "pulser_flag"}
    for kind, name in names.items():
        values = np.where(has_header, (kinds == kind).astype(np.uint8), UNKNOWN)
        out[name] = ("event", values, _flag_attrs(f"The event is a {kind.replace('science', 'science (real)')} "
                                                  "event by the mission's trigger rules"))
    out["active_channels"] = ("event", active.astype(np.uint8), {
        "long_name": "Channels active in the trigger (trigger-id bits and non-zero TOF trigger modes)",
        "flag_masks": [1 << i for i in range(len(spec.trigger_bits))],
        "flag_meanings": " ".join(spec.trigger_bits)})
    out["software_trigger"] = ("event", software.astype(np.uint8),
                               {"long_name": "Software or external trigger", "flag_values": [0, 1]})
    for channel in schema.channels.values():
        if channel.name not in ds:
            continue
        limit = spec.saturation_fraction * (2 ** channel.sample_bits - 1)
        raw = ds[channel.name].values
        saturated = ((raw >= limit) & (raw != channel.fill_value)).any(axis=1)
        out[f"{channel.name}_saturation_flag"] = ("event", saturated.astype(np.uint8), _flag_attrs(
            f"{channel.name} reached {spec.saturation_fraction:.0%} of full scale ({limit:.2f} DN)"))
    dust = np.where(has_header, 0, UNKNOWN).astype(np.uint8)
    decided = np.zeros(n, np.int8)
    gains = spec.dust.channels
    why = {f"{g}_{q}": np.full(n, np.nan) for g in gains for q in ("dust_baseline", "dust_noise", "widest_peak")}
    counts = {g: np.zeros(n, np.int16) for g in gains}
    limits = [spec.saturation_fraction * (2 ** schema.channels[g].sample_bits - 1) for g in gains]
    channel = schema.channels[gains[0]]
    clock, trigger = ds[channel.time].values, ds[channel.trigger_time].values
    tested = np.flatnonzero(has_header & (kinds == "science"))
    for block in np.array_split(tested, max(1, -(-tested.size // _BLOCK))):  # bounded memory: a block at a time
        time = clock[None, :] - trigger[block, None]  # µs from the trigger, as ds.idex.time gives it
        waveforms = [_as_float(ds[g].values[block], schema.channels[g].fill_value) for g in gains]
        measured = [_baselines(w, time, spec.dust) for w in waveforms]  # pass A's baseline and noise, vectorised
        for i, row in enumerate(block):
            distance = _distance(time[i], spec.dust)
            first = [_gain(w[i], time[i], b[i], s[i], distance, spec.dust, limit)
                     for w, (b, s), limit in zip(waveforms, measured, limits)]
            rule, passes = _dust_test(first, [w[i] for w in waveforms], time[i], distance, limits, spec.dust)
            dust[row] = rule >= 2
            decided[row] = rule
            for g, gain, widths in zip(gains, *passes):
                why[f"{g}_dust_baseline"][row], why[f"{g}_dust_noise"][row] = gain.baseline, gain.sigma
                counts[g][row] = int(np.sum(widths >= spec.dust.min_width_us))
                why[f"{g}_widest_peak"][row] = np.nanmax(widths) if np.isfinite(widths).any() else np.nan
    out["dust_hit_flag"] = ("event", dust, _flag_attrs("The TOF waveforms look like a dust impact (mission rule)"))
    out["dust_decided_by"] = ("event", decided, {"long_name": "Which rule decided the dust test",
                                                 "flag_values": list(range(len(DECIDED_BY))),
                                                 "flag_meanings": " ".join(DECIDED_BY)})
    for g in gains:
        out[f"{g}_dust_baseline"] = ("event", why[f"{g}_dust_baseline"],
                                     {"long_name": f"{g} baseline of the dust test (median of the first "
                                                   f"{spec.dust.baseline_us} us)", "units": "dN"})
        out[f"{g}_dust_noise"] = ("event", why[f"{g}_dust_noise"],
                                  {"long_name": f"{g} noise of the dust test (1.4826 MAD)", "units": "dN"})
        out[f"{g}_dust_peaks"] = ("event", counts[g], {"long_name": f"{g} peaks at least {spec.dust.min_width_us} "
                                                                     "us wide in the deciding pass"})
        out[f"{g}_widest_peak"] = ("event", why[f"{g}_widest_peak"],
                                   {"long_name": f"{g} widest peak (FWHM, on the highest unsaturated gain)",
                                    "units": "us"})
    return out


def _as_float(raw: np.ndarray, fill: int) -> np.ndarray:
    """Counts as float64, the fill value (no sample) as NaN."""
    values = raw.astype(np.float64)
    values[raw == fill] = np.nan
    return values


def _flag_attrs(long_name: str) -> dict[str, object]:
    return {"long_name": long_name, "flag_values": [0, 1, int(UNKNOWN)], "flag_meanings": "no yes no_event_header"}


def _event_types(ds: xr.Dataset, spec: ClassificationSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event type (``science``/``noise``/``pulser``), active-channel bitmask and software flag per event."""
    trigger = np.nan_to_num(ds[spec.trigger_id].values.astype(np.float64)).astype(np.int64)
    order = list(spec.trigger_bits)
    active = np.zeros(trigger.size, np.int64)
    for index, bit in enumerate(spec.trigger_bits.values()):
        active |= ((trigger >> bit) & 1) << index
    for channel, field in spec.trigger_modes.items():
        active |= (np.nan_to_num(ds[field].values.astype(np.float64)) != 0).astype(np.int64) << order.index(channel)
    software = np.zeros(trigger.size, bool)
    for bit in spec.software_bits:
        software |= ((trigger >> bit) & 1) == 1
    only_pulser_channel = active == (1 << order.index(spec.pulser_channel))
    mode = ds[spec.trigger_modes[spec.pulser_channel]].values
    threshold = ds[spec.pulser_threshold_field].values
    noise = (active == 0) | (software & only_pulser_channel)
    pulser = ~noise & only_pulser_channel & (mode == spec.pulser_mode) & (threshold == spec.pulser_threshold)
    kinds = np.where(noise, "noise", np.where(pulser, "pulser", "science"))
    return kinds, active, software


def _dust_test(gains: list[_Gain], raw: list[np.ndarray], time: np.ndarray, distance: int, limits: list[float],
               spec: DustSpec) -> tuple[int, tuple[list[_Gain], list[np.ndarray]]]:
    """Rule (position in :data:`DECIDED_BY`) and the deciding pass's gains and peak widths of one event."""
    if min([time.size, *(r.size for r in raw)]) == 0:
        return 1, ([], [])
    widths = _widths(gains, time, limits, spec)
    for index, (gain, width) in enumerate(zip(gains, widths)):
        if not np.isfinite(gain.sigma):
            continue
        if np.sum(width >= spec.min_width_us) >= spec.min_peaks:
            return 2, (gains, widths)
        if index == 0 and gain.peaks.size == 1 and \
                _fwhm(gain.corrected, time, gain.peaks[0]) >= spec.single_peak_width_us:
            return 3, (gains, widths)
    truncated = [np.isfinite(g.baseline) and abs(g.baseline - ref) > spec.truncation_dn
                 for g, ref in zip(gains, spec.reference_baseline_dn)]
    if not any(truncated):
        return 1, (gains, widths)
    retried = [_gain(r, time, ref, sigma if np.isfinite(r).any() else np.nan, distance, spec, limit,
                     measured=gain.baseline)
               if cut else gain
               for r, gain, cut, ref, sigma, limit in zip(raw, gains, truncated, spec.reference_baseline_dn,
                                                          spec.reference_sigma_dn, limits)]
    again = _widths(retried, time, limits, spec)
    for gain, width in zip(retried, again):
        if np.isfinite(gain.sigma) and np.sum(width >= spec.min_width_us) >= spec.min_peaks:
            return 4, (retried, again)
    return 1, (gains, widths)


def _baselines(raw: np.ndarray, time: np.ndarray, spec: DustSpec) -> tuple[np.ndarray, np.ndarray]:
    """Baseline (median) and noise (1.4826 MAD, else the standard deviation) of every event's first
    ``baseline_us``, counted from its first finite sample; NaN where a row has no finite sample."""
    finite = np.isfinite(raw) & np.isfinite(time)
    rows = np.arange(raw.shape[0])
    start = time[rows, np.argmax(finite, axis=1)]
    window = finite & (time < start[:, None] + spec.baseline_us)
    width = int(np.flatnonzero(window.any(axis=0)).max()) + 1 if window.any() else 0
    quiet = np.where(window[:, :width], raw[:, :width], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without a finite sample: NaN, as the rule says
        baseline = np.nanmedian(quiet, axis=1)
        sigma = 1.4826 * np.nanmedian(np.abs(quiet - baseline[:, None]), axis=1)
        sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.nanstd(quiet, axis=1))
    return baseline, sigma


def _gain(raw: np.ndarray, time: np.ndarray, baseline: float, sigma: float, distance: int, spec: DustSpec,
          limit: float, measured: float | None = None) -> _Gain:
    """One gain of one event: corrected waveform, peaks, saturated runs merged (``measured``: the baseline
    the data show, kept for the record when ``baseline`` is a reference)."""
    corrected = raw - baseline
    peaks = _peaks(corrected, time, sigma, distance, spec)
    return _Gain(raw, corrected, float(baseline if measured is None else measured), float(sigma),
                 _merge_saturated(peaks, raw, corrected, limit))


def _distance(time: np.ndarray, spec: DustSpec) -> int:
    """Least peak separation in samples: ``distance_us`` over the median sample spacing of the finite times."""
    finite = time[np.isfinite(time)]
    dt = np.median(np.abs(np.diff(finite))) if finite.size > 1 else np.nan
    return max(1, int(round(spec.distance_us / dt))) if np.isfinite(dt) and dt > 0 else 1


def _peaks(corrected: np.ndarray, time: np.ndarray, sigma: float, distance: int, spec: DustSpec) -> np.ndarray:
    """``find_peaks`` at the height and prominence thresholds, non-finite samples as deep valleys."""
    if not np.isfinite(sigma) or sigma <= 0 or not np.nanmax(corrected, initial=-np.inf) >= spec.height_sigma * sigma:
        return np.zeros(0, np.int64)  # nothing reaches the height: no peak (and no find_peaks call)
    signal = np.where(np.isfinite(corrected) & np.isfinite(time), corrected, -np.inf)
    peaks, _ = find_peaks(signal, height=spec.height_sigma * sigma, prominence=spec.prominence_sigma * sigma,
                          distance=distance)
    return peaks


def _merge_saturated(peaks: np.ndarray, raw: np.ndarray, corrected: np.ndarray, limit: float) -> np.ndarray:
    """One peak per run of saturated samples: the largest corrected value of the run (the first on ties)."""
    if peaks.size < 2:
        return peaks
    saturated = np.isfinite(raw) & (raw >= limit)
    kept, seen = [], set()
    for peak in peaks:
        if not saturated[peak]:
            kept.append(peak)
            continue
        start = peak
        while start > 0 and saturated[start - 1]:
            start -= 1
        if start in seen:
            continue
        seen.add(start)
        stop = peak
        while stop < raw.size - 1 and saturated[stop + 1]:
            stop += 1
        members = peaks[(peaks >= start) & (peaks <= stop)]
        kept.append(members[np.argmax(corrected[members])])
    return np.array(sorted(kept), dtype=np.int64)


def _fwhm(corrected: np.ndarray, time: np.ndarray, peak: int) -> float:
    """Full width at half maximum of the above-half region around ``peak`` (µs), NaN where it is not bounded."""
    height = corrected[peak]
    if not np.isfinite(height) or height <= 0:
        return np.nan
    half = height / 2
    n = corrected.size
    reach = _FWHM_REACH
    while True:  # look near the peak first; widen only for a region wider than the reach
        lo, hi = max(0, peak - reach), min(n, peak + reach + 1)
        with np.errstate(invalid="ignore"):
            above = np.zeros(n, bool)
            above[lo:hi] = np.isfinite(corrected[lo:hi]) & (corrected[lo:hi] >= half)
        below_left = np.flatnonzero(~above[lo:peak + 1])
        below_right = np.flatnonzero(~above[peak:hi])
        if (below_left.size or lo == 0) and (below_right.size or hi == n):
            break
        reach *= 8
    left = lo + int(below_left[-1]) if below_left.size else 0  # walk left while above half, stopping at index 0
    right = peak + int(below_right[0]) if below_right.size else n - 1
    if not (left < n - 1 and np.isfinite(corrected[left]) and corrected[left] < half and above[left + 1]):
        return np.nan
    if not (right < n - 1 and above[right - 1] and np.isfinite(corrected[right]) and corrected[right] < half):
        return np.nan
    return abs(_crossing(time, corrected, right - 1, right, half) - _crossing(time, corrected, left, left + 1, half))


def _crossing(time: np.ndarray, values: np.ndarray, a: int, b: int, level: float) -> float:
    if values[b] == values[a]:
        return float(time[a])
    return float(time[a] + (level - values[a]) * (time[b] - time[a]) / (values[b] - values[a]))


def _widths(gains: list[_Gain], time: np.ndarray, limits: list[float], spec: DustSpec) -> list[np.ndarray]:
    """Width of every peak of every gain, a saturated peak measured on the next lower gain that has it unsaturated."""
    out = []
    for index, gain in enumerate(gains):
        widths = np.full(gain.peaks.size, np.nan)
        for slot, peak in enumerate(gain.peaks):
            if not gain.raw[peak] >= limits[index]:
                widths[slot] = _fwhm(gain.corrected, time, peak)
                continue
            for lower in range(index + 1, len(gains)):
                other = gains[lower]
                if other.peaks.size == 0:
                    continue
                nearest = other.peaks[np.argmin(np.abs(time[other.peaks] - time[peak]))]
                if abs(time[nearest] - time[peak]) > spec.match_us or other.raw[nearest] >= limits[lower]:
                    continue
                width = _fwhm(other.corrected, time, nearest)
                if np.isfinite(width):
                    widths[slot] = width
                    break
        out.append(widths)
    return out
