"""The mission's dust-hit test on the TOF gains of every science event, compiled.

Written by hand for speed (see :mod:`idex.model.peak_finding`): the test looks at three 8 189-sample gains of
every event; in NumPy/SciPy calls per event it took ~1 ms, more than all of decoding. The rule, in the
order it is applied (thresholds from the schema's ``classification.dust`` section, gains highest first):

1. Baseline (median) and noise (1.4826 MAD, else the standard deviation) of each gain's first
   ``baseline_us``, counted from its first finite sample.
2. Peaks of the baseline-corrected gain at ``height_sigma`` and ``prominence_sigma`` times the noise and
   ``distance_us`` apart (``scipy.signal.find_peaks`` semantics); the peaks of a run of saturated samples
   merged into its highest.
3. Each peak's full width at half maximum, a saturated peak measured on the next lower gain that has a
   matching unsaturated peak within ``match_us``.
4. Dust when one gain has ``min_peaks`` peaks at least ``min_width_us`` wide, or the high gain has a single
   peak at least ``single_peak_width_us`` wide; failing that, gains whose baseline lies more than
   ``truncation_dn`` from its reference are tested again with the reference baseline and noise.

:func:`dust_test` returns the rule that decided (positions in ``DECIDED_BY`` of :mod:`idex.model.classify`) and,
per gain, the baseline, noise, number of qualifying peaks and widest peak of the deciding pass.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

import numba
import numpy as np

from idex.model.order_statistics import median, median_spacing, sort_in_place
from idex.model.peak_finding import find_peaks
from idex.model.peak_widths import half_maximum_width, peak_widths
from idex.model.statistics import MAD_TO_SIGMA

__all__ = ["dust_test"]

NOT_DUST, TWO_PEAKS, SINGLE_WIDE_PEAK, AFTER_TRUNCATION = 1, 2, 3, 4
"""Rules (positions in :data:`idex.model.classify.DECIDED_BY`)."""

DustParameters: TypeAlias = tuple[float, float, float, float, float, int, float, float, float]
"""``(baseline_us, height_sigma, prominence_sigma, distance_us, min_width_us, min_peaks,
single_peak_width_us, match_us, truncation_dn)``."""


@numba.njit(cache=True, nogil=True)
def _median_of_whole_numbers(values: np.ndarray, scale: float) -> float:
    """``np.median(values)`` (same value, bit for bit) where ``values * scale`` are whole numbers in a narrow
    range (counts, or their distances from a half-integer median with ``scale=2``): found by counting, because
    quickselect slows down badly on the many equal values of a quiet baseline."""
    low, high = np.inf, -np.inf
    for value in values:
        low, high = min(low, value * scale), max(high, value * scale)
    if values.size == 0 or not (high - low <= 65536.0) or low != np.floor(low):
        return median(values)
    counts = np.zeros(int(high - low) + 1, np.int64)
    for value in values:
        scaled = value * scale
        if scaled != np.floor(scaled):
            return median(values)
        counts[int(scaled - low)] += 1
    lower, upper = (values.size - 1) // 2, values.size // 2  # ranks of the middle value(s)
    seen, below, above = 0, np.nan, np.nan
    for offset in range(counts.size):
        seen += counts[offset]
        if np.isnan(below) and seen > lower:
            below = (low + offset) / scale
        if seen > upper:
            above = (low + offset) / scale
            break
    return below if lower == upper else (below + above) / 2


@numba.njit(cache=True, nogil=True)
def _baseline_and_noise(values: np.ndarray, time: np.ndarray, window_us: float) -> tuple[float, float]:
    first = -1
    for i in range(values.size):
        if np.isfinite(values[i]) and np.isfinite(time[i]):
            first = i
            break
    if first < 0:
        return np.nan, np.nan
    end = time[first] + window_us
    stop = first
    while stop < time.size and not time[stop] >= end:  # the clock increases: the window ends at the first later time
        stop += 1
    quiet = np.empty(stop - first)
    n = 0
    for i in range(first, stop):
        if np.isfinite(values[i]) and np.isfinite(time[i]):
            quiet[n] = values[i]
            n += 1
    quiet = quiet[:n]
    baseline = _median_of_whole_numbers(quiet, 1.0)
    sigma = MAD_TO_SIGMA * _median_of_whole_numbers(np.abs(quiet - baseline), 2.0)
    if not (np.isfinite(sigma) and sigma > 0):
        sigma = float(np.std(quiet))
    return baseline, sigma


@numba.njit(cache=True, nogil=True)
def _distance_samples(time: np.ndarray, distance_us: float) -> int:
    """``distance_us`` in samples: over the median spacing of the finite times, rounded half to even."""
    dt = median_spacing(time)
    if not (np.isfinite(dt) and dt > 0):
        return 1
    return max(1, int(np.rint(distance_us / dt)))


@numba.njit(cache=True, nogil=True)
def _distance_is_robust(clock: np.ndarray, distance_us: float) -> bool:
    """True when ``distance_us / spacing`` is far from a rounding boundary: the few-ULP differences between
    ``clock - trigger`` spacings of different events cannot change the rounded distance."""
    ratio = distance_us / median_spacing(clock)
    return np.isfinite(ratio) and abs(ratio - np.floor(ratio) - 0.5) > 1e-6 * max(1.0, ratio)


@numba.njit(cache=True, nogil=True)
def _gain_peaks(
    raw: np.ndarray,
    corrected: np.ndarray,
    time: np.ndarray,
    sigma: float,
    distance: int,
    height_sigma: float,
    prominence_sigma: float,
    limit: float,
    signal: np.ndarray,
    out: np.ndarray,
) -> int:
    """Peaks above the thresholds into ``out``, one per run of saturated samples (its highest corrected value,
    first on ties); returns how many. ``signal`` is scratch space."""
    if not (np.isfinite(sigma) and sigma > 0):
        return 0
    highest = -np.inf
    for value in corrected:
        if value > highest:
            highest = value
    if not highest >= height_sigma * sigma:
        return 0
    for i in range(signal.size):
        signal[i] = corrected[i] if np.isfinite(corrected[i]) and np.isfinite(time[i]) else -np.inf
    peaks = find_peaks(signal, height_sigma * sigma, prominence_sigma * sigma, distance)
    if peaks.size < 2:
        for i in range(peaks.size):  # element by element: a slice assignment compiles shape checks (slow first use)
            out[i] = peaks[i]
        return peaks.size
    m = 0
    last_run_start = -1
    for peak in peaks:
        if not (np.isfinite(raw[peak]) and raw[peak] >= limit):
            out[m] = peak
            m += 1
            continue
        start = peak
        while start > 0 and np.isfinite(raw[start - 1]) and raw[start - 1] >= limit:
            start -= 1
        if start == last_run_start:  # peaks are ascending: a run's members follow each other
            continue
        last_run_start = start
        stop = peak
        while stop < raw.size - 1 and np.isfinite(raw[stop + 1]) and raw[stop + 1] >= limit:
            stop += 1
        best = peak
        for other in peaks:
            if start <= other <= stop and corrected[other] > corrected[best]:
                best = other
        out[m] = best
        m += 1
    sort_in_place(out[:m])
    return m


class _Workspace(NamedTuple):
    """Arrays of one pass, allocated once per call and reused for every event."""

    corrected: np.ndarray
    peaks: np.ndarray
    counts: np.ndarray
    widths: np.ndarray
    signal: np.ndarray


@numba.njit(cache=True, nogil=True)
def _workspace(n_gains: int, n_samples: int) -> _Workspace:
    return _Workspace(
        np.empty((n_gains, n_samples)),
        np.zeros((n_gains, n_samples // 2 + 1), np.int64),
        np.zeros(n_gains, np.int64),
        np.empty((n_gains, n_samples // 2 + 1)),
        np.empty(n_samples),
    )


@numba.njit(cache=True, nogil=True)
def _pass(
    raw: np.ndarray,
    time: np.ndarray,
    baselines: np.ndarray,
    sigmas: np.ndarray,
    distance: int,
    limits: np.ndarray,
    height_sigma: float,
    prominence_sigma: float,
    match_us: float,
    work: _Workspace,
) -> None:
    """Corrected gains, their peaks (row = gain, ``counts`` used) and the peak widths of one pass, into ``work``."""
    for g in range(raw.shape[0]):
        for i in range(raw.shape[1]):
            work.corrected[g, i] = raw[g, i] - baselines[g]
        work.counts[g] = _gain_peaks(
            raw[g],
            work.corrected[g],
            time,
            sigmas[g],
            distance,
            height_sigma,
            prominence_sigma,
            limits[g],
            work.signal,
            work.peaks[g],
        )
    peak_widths(raw, work.corrected, work.peaks, work.counts, time, limits, match_us, work.widths)


@numba.njit(cache=True, nogil=True)
def _summary(
    widths: np.ndarray, counts: np.ndarray, min_width_us: float, qualifying: np.ndarray, widest: np.ndarray
) -> None:
    for g in range(counts.size):
        qualifying[g] = 0
        widest[g] = np.nan
        for slot in range(counts[g]):
            width = widths[g, slot]
            if width >= min_width_us:
                qualifying[g] += 1
            if np.isfinite(width) and not width <= widest[g]:
                widest[g] = width


@numba.njit(cache=True, nogil=True)
def _any_finite(values: np.ndarray) -> bool:
    for value in values:
        if np.isfinite(value):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _one_event(
    raw: np.ndarray,
    time: np.ndarray,
    distance: int,
    limits: np.ndarray,
    parameters: DustParameters,
    reference_baseline: np.ndarray,
    reference_sigma: np.ndarray,
    work: _Workspace,
    baseline: np.ndarray,
    sigma: np.ndarray,
    qualifying: np.ndarray,
    widest: np.ndarray,
) -> int:
    """Rule of one event (``raw``: gains x samples, NaN where no sample); fills the per-gain outputs."""
    (
        baseline_us,
        height_sigma,
        prominence_sigma,
        _,
        min_width_us,
        min_peaks,
        single_peak_width_us,
        match_us,
        truncation_dn,
    ) = parameters
    n_gains = raw.shape[0]
    for g in range(n_gains):
        baseline[g], sigma[g] = _baseline_and_noise(raw[g], time, baseline_us)
    _pass(raw, time, baseline, sigma, distance, limits, height_sigma, prominence_sigma, match_us, work)
    _summary(work.widths, work.counts, min_width_us, qualifying, widest)
    for g in range(n_gains):
        if not np.isfinite(sigma[g]):
            continue
        if qualifying[g] >= min_peaks:
            return TWO_PEAKS
        if (
            g == 0
            and work.counts[0] == 1
            and half_maximum_width(work.corrected[0], time, work.peaks[0, 0]) >= single_peak_width_us
        ):
            return SINGLE_WIDE_PEAK
    # Element-wise loops rather than array expressions and np.where here: each of those is a kernel of its own
    # for numba to compile, which made the first use of idex markedly slower.
    retry_baseline = baseline.copy()
    retry_sigma = sigma.copy()
    truncated = False
    for g in range(n_gains):
        if np.isfinite(baseline[g]) and abs(baseline[g] - reference_baseline[g]) > truncation_dn:
            truncated = True
            retry_baseline[g] = reference_baseline[g]
            retry_sigma[g] = reference_sigma[g] if _any_finite(raw[g]) else np.nan
    if not truncated:
        return NOT_DUST
    _pass(raw, time, retry_baseline, retry_sigma, distance, limits, height_sigma, prominence_sigma, match_us, work)
    retry_qualifying = np.zeros(n_gains, np.int64)
    retry_widest = np.full(n_gains, np.nan)
    _summary(work.widths, work.counts, min_width_us, retry_qualifying, retry_widest)
    for g in range(n_gains):
        if np.isfinite(retry_sigma[g]) and retry_qualifying[g] >= min_peaks:
            for h in range(n_gains):  # the measured baseline stays on record; the noise used is the reference's
                sigma[h] = retry_sigma[h]
                qualifying[h] = retry_qualifying[h]
                widest[h] = retry_widest[h]
            return AFTER_TRUNCATION
    return NOT_DUST


@numba.njit(cache=True, nogil=True)
def dust_test(
    gains: tuple[np.ndarray, ...],
    fills: np.ndarray,
    limits: np.ndarray,
    clock: np.ndarray,
    trigger: np.ndarray,
    events: np.ndarray,
    parameters: DustParameters,
    reference_baseline: np.ndarray,
    reference_sigma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dust test of the listed events.

    Parameters
    ----------
    gains : tuple of numpy.ndarray
        Raw TOF waveforms ``(event, sample)`` (uint16 counts), highest gain first.
    fills : numpy.ndarray
        Fill value of each gain (no sample).
    limits : numpy.ndarray
        Saturation level of each gain (DN).
    clock, trigger : numpy.ndarray
        Sample times from the start of the record and each tested event's trigger time (µs).
    events : numpy.ndarray
        ``(gain, event)``: the row of each tested event (science events with a header) in each gain's array
        (rows of events without data may share one row of fill values).
    parameters : tuple
        See ``DustParameters`` in this module.
    reference_baseline, reference_sigma : numpy.ndarray
        Reference baseline and noise of each gain (DN).

    Returns
    -------
    rule, baseline, sigma, qualifying, widest : numpy.ndarray
        Per tested event: the deciding rule; per tested event and gain ``(event, gain)``: baseline and noise
        of the deciding pass, number of peaks at least ``min_width_us`` wide, widest peak (µs).
    """
    n_gains = len(gains)
    n_samples = clock.size
    n_events = events.shape[1]
    rule = np.ones(n_events, np.int8)
    baseline = np.full((n_events, n_gains), np.nan)
    sigma = np.full((n_events, n_gains), np.nan)
    qualifying = np.zeros((n_events, n_gains), np.int64)
    widest = np.full((n_events, n_gains), np.nan)
    if n_samples == 0:
        return rule, baseline, sigma, qualifying, widest
    raw = np.empty((n_gains, n_samples))
    time = np.empty(n_samples)
    work = _workspace(n_gains, n_samples)
    distance_us = parameters[3]
    robust = _distance_is_robust(clock, distance_us)
    shared_distance = _distance_samples(clock - trigger[0], distance_us) if n_events else 1
    for k in range(n_events):
        for g in range(n_gains):
            wave = gains[g][events[g, k]]
            for i in range(n_samples):
                raw[g, i] = np.nan if wave[i] == fills[g] else wave[i]
        for i in range(n_samples):
            time[i] = clock[i] - trigger[k]
        distance = shared_distance if robust else _distance_samples(time, distance_us)
        rule[k] = _one_event(
            raw,
            time,
            distance,
            limits,
            parameters,
            reference_baseline,
            reference_sigma,
            work,
            baseline[k],
            sigma[k],
            qualifying[k],
            widest[k],
        )
    return rule, baseline, sigma, qualifying, widest
