"""Synthetic low-rate records at the real noise for the detection tests and ``benchmarks/detection.py``.

The noise is the real one: phase-randomised surrogates of real quiet records (each record's quadratic trend
removed, its Fourier amplitudes kept, its phases drawn at random), so the slow wander that dominates the
detector noise keeps its spectrum. NumPy only; deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np


def surrogates(quiet: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` noise records with the power spectra of the rows of ``quiet`` (``(k, m)``, no pulse in them)."""
    m = quiet.shape[1]
    tau = np.linspace(-1, 1, m)
    detrended = np.array([row - np.polyval(np.polyfit(tau, row, 2), tau) for row in quiet])
    amplitude = np.abs(np.fft.rfft(detrended, axis=1))[rng.integers(0, len(quiet), n)]
    phase = np.exp(2j * np.pi * rng.random(amplitude.shape))
    phase[:, 0] = 1.0
    return np.fft.irfft(amplitude * phase, n=m, axis=1)


def impact(t: np.ndarray, onset: np.ndarray, amplitude: np.ndarray, rise: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """The impact pulse (onset, rise and decay times in µs), written out here independently of idex."""
    s = np.clip(t - onset[:, None], 0.0, None)
    return amplitude[:, None] * (1 - np.exp(-s / rise[:, None])) * np.exp(-s / decay[:, None])


def pulses(t: np.ndarray, noise: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Noise plus pulses of ``amplitude`` (in the data's units); onset −15 to +3 µs (some before the trigger),
    rise 0.5-10 µs, decay 20-500 µs."""
    n = noise.shape[0]
    return noise + impact(
        t, rng.uniform(-15, 3, n), np.full(n, amplitude), rng.uniform(0.5, 10, n), rng.uniform(20, 500, n)
    )


def drifts(t: np.ndarray, noise: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """Noise plus slow drifts of about ``size`` over the record: straight, or the tail of an earlier pulse
    (an exponential recovery with a time constant of 0.5-3 record lengths), of either sign."""
    n = noise.shape[0]
    span = t[-1] - t[0]
    x = (t - t[0]) / span
    tau = rng.uniform(0.5, 3, n)[:, None]
    shape = np.where(rng.random((n, 1)) < 0.5, x[None, :], 1 - np.exp(-x[None, :] / tau))
    return noise + size * rng.choice([-1.0, 1.0], (n, 1)) * shape
