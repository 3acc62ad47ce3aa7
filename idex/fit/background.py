"""Background suppression before fitting: linear trend, sine pickup ("microphonics"), zero-phase low-pass.

Everything is in real units: times in µs, frequencies in MHz (so a 1 kHz pickup is 0.001 MHz), and
the low-pass cutoff is a frequency, not "cycles per record" (ALGORITHMS §2.4, §6.5). Initial guesses
come from the data (the sine frequency from the baseline's spectrum), not fixed constants.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import curve_fit
from scipy.signal import butter, filtfilt

from idex.exceptions import InputError

__all__ = ["detrend", "lowpass", "remove_sine", "sine"]


def sine(t: np.ndarray, amplitude: float, frequency: float, phase: float) -> np.ndarray:
    """``amplitude * sin(2π frequency t + phase)`` (t in µs, frequency in MHz)."""
    return amplitude * np.sin(2 * np.pi * frequency * t + phase)


def detrend(t: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Subtract the least-squares line fitted to ``y[mask]`` (default: all samples).

    Returns
    -------
    residual, coefficients : numpy.ndarray
        ``y`` minus the line, and the line's ``(slope, intercept)``.

    Examples
    --------
    >>> t = np.linspace(0, 10, 50)
    >>> residual, (slope, intercept) = detrend(t, 10 * t + 3)
    >>> bool(np.allclose(residual, 0, atol=1e-9)), round(float(slope), 6)
    (True, 10.0)
    """
    use = np.ones(t.shape, bool) if mask is None else mask
    coefficients = np.polyfit(t[use], y[use], 1)
    return y - np.polyval(coefficients, t), coefficients


def _sine_and_line(
    t: np.ndarray, amplitude: float, frequency: float, phase: float, slope: float, offset: float
) -> np.ndarray:
    return sine(t, amplitude, frequency, phase) + slope * t + offset


def remove_sine(t: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit a sine plus a straight line to the quiet samples ``y[mask]`` and subtract both everywhere.

    Fitting them together matters when the quiet window holds only about one period: a line fitted
    alone would absorb part of the sine. The starting frequency is the strongest non-zero bin of the
    detrended baseline's spectrum, the starting amplitude its RMS·√2. Returns the cleaned signal and
    ``(amplitude, frequency_mhz, phase, slope, offset)``; when the fit fails nothing is subtracted
    and the parameters are NaN.
    """
    tb = t[mask]
    if tb.size < 8:
        return y, np.full(5, np.nan)
    yb, (slope, offset) = detrend(tb, y[mask])
    dt = float(np.median(np.diff(tb)))
    spectrum = np.abs(np.fft.rfft(yb, n=8 * tb.size))  # zero-padded: a finer start for short windows
    frequencies = np.fft.rfftfreq(8 * tb.size, dt)
    start = frequencies[1 + np.argmax(spectrum[1:])]
    p0 = (np.sqrt(2) * np.std(yb), start, 0.0, slope, offset)
    try:
        params, _ = curve_fit(_sine_and_line, tb, y[mask], p0=p0, maxfev=20000)
    except (RuntimeError, ValueError):
        return y, np.full(5, np.nan)
    return y - _sine_and_line(t, *params), params


def lowpass(t: np.ndarray, y: np.ndarray, cutoff_mhz: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth low-pass (``filtfilt``) with the cutoff in MHz.

    Examples
    --------
    >>> t = np.arange(2000) * 0.01                      # 100 MHz sampling
    >>> slow, fast = np.sin(2 * np.pi * 0.1 * t), np.sin(2 * np.pi * 20 * t)
    >>> bool(np.abs(lowpass(t, slow + fast, 1.0) - slow)[100:-100].max() < 0.01)
    True
    """
    rate = 1.0 / float(np.median(np.diff(t)))
    if not 0 < cutoff_mhz < rate / 2:
        raise InputError(f"cutoff {cutoff_mhz} MHz must lie between 0 and the Nyquist frequency {rate / 2} MHz")
    b, a = butter(order, cutoff_mhz / (rate / 2))
    return filtfilt(b, a, y)
