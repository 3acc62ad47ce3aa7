"""Synthetic IDEX events for the classification tests: every branch of the mission's dust / noise / pulser rules.

NumPy only (no idex), so the mission pipeline's own classifier can be run on exactly the same events to make
the oracle (``tests/oracles/event_flags_official.py``). Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np

N_HIGH, N_LOW = 8189, 512
REFERENCE_BASELINE = (511.0, 513.0, 514.0)  # TOF high, mid, low
REFERENCE_NOISE = (2.0, 1.0, 2.0)
GAIN = (1.0, 0.08, 0.012)  # mid and low gain see the same ions, weaker


def high_rate_axis(pre_blocks: int, delay: int) -> np.ndarray:
    """µs from the trigger, as the mission pipeline builds it (integer range times the period, minus the trigger)."""
    period = 1 / 260
    trigger = (period * (pre_blocks + 1)) * 512 - period * (delay - 1)
    return np.arange(N_HIGH) * period - trigger


def events(seed: int = 2026, n: int = 300) -> list[dict]:
    """``n`` events: telemetry (trigger id, modes, high-gain threshold), the axis, and six waveforms in DN."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        trigger_id = int(rng.choice([1, 1, 1, 2, 4, 8, 16, 32, 17, 0, 64, 9]))
        modes = [int(rng.choice([0, 1, 1, 2, 3])), int(rng.choice([0, 0, 0, 1])), int(rng.choice([0, 0, 0, 2]))]
        threshold = int(rng.choice([530, 580, 1000]))
        pre_blocks, delay = int(rng.integers(0, 16)), int(rng.integers(0, 1024))
        t = high_rate_axis(pre_blocks, delay)
        truncated = rng.random() < 0.15
        tof = []
        peaks = [
            (rng.uniform(t[900], t[-200]), rng.uniform(0.002, 0.04), 10 ** rng.uniform(1, 4.3))
            for _ in range(int(rng.integers(0, 5)))
        ]
        for gain in range(3):
            baseline = REFERENCE_BASELINE[gain] + (rng.uniform(30, 120) if truncated and gain == 0 else 0.0)
            signal = baseline + rng.normal(0, REFERENCE_NOISE[gain], N_HIGH)
            for centre, width, height in peaks:
                signal += GAIN[gain] * height * np.exp(-0.5 * ((t - centre) / width) ** 2)
            wave = np.clip(np.round(signal), 0, 1023)
            if truncated and gain == 0:
                wave[:780] = np.clip(wave[:780] - 60, 0, 1023)  # a cut-off start
            if rng.random() < 0.03:
                start = int(rng.integers(0, N_HIGH - 50))
                wave[start : start + int(rng.integers(1, 50))] = np.nan  # lost samples
            tof.append(wave)
        low = []
        for _ in range(3):
            wave = np.clip(np.round(2048 + rng.normal(0, 2, N_LOW) + (rng.random() < 0.1) * 3000), 0, 4095)
            low.append(wave)
        out.append(
            {
                "trigger_id": trigger_id,
                "tof_high_trigger_mode": modes[0],
                "tof_mid_trigger_mode": modes[1],
                "tof_low_trigger_mode": modes[2],
                "tof_high_trigger_level": threshold,
                "time_high": t,
                "tof_high": tof[0],
                "tof_mid": tof[1],
                "tof_low": tof[2],
                "target_high": low[0],
                "target_low": low[1],
                "ion_grid": low[2],
            }
        )
    return out
