"""Regenerate ``tests/data/impact_fits_lmfit.json``: the best impact fit that lmfit finds from a wide grid of starts.

An independent oracle for the compiled engine: a plain NumPy model (not idex's compiled one), lmfit's own
bounds handling, and 63 starts per waveform spread over onset (-20 ... 20 µs), rise (0.3, 3, 30 µs) and
decay (20, 300, 5000 µs), none taken from idex's guesses. Run from the repository root (about two minutes):

    python tests/oracles/impact_fits_lmfit.py
"""

from __future__ import annotations

import json
from pathlib import Path

import lmfit
import numpy as np

import idex

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = ("imap_idex_l0_raw_20231214_v001.pkts", "imap_idex_l0_raw_20230725_v001.pkts")
ONSETS = (-20.0, -5.0, -1.0, 0.0, 1.0, 5.0, 20.0)
RISES = (0.3, 3.0, 30.0)
DECAYS = (20.0, 300.0, 5000.0)


def impact(t, time_of_impact, baseline, amplitude, rise_time, discharge_time):
    """ALGORITHMS §2.2 in NumPy: baseline + H(t - t0) A (1 - exp(-(t - t0)/rise)) exp(-(t - t0)/discharge)."""
    s = np.maximum(t - time_of_impact, 0.0)
    return baseline + np.where(
        t > time_of_impact, amplitude * (1 - np.exp(-s / rise_time)) * np.exp(-s / discharge_time), 0.0
    )


def best_fit(t: np.ndarray, y: np.ndarray, spec) -> lmfit.model.ModelResult:
    model = lmfit.Model(impact, independent_vars=["t"])
    baseline = float(np.mean(y[t < -5]))
    signal = y - baseline
    amplitude = signal[np.argmax(np.abs(signal))] if spec.parameters[2].min < 0 else max(signal.max(), 1e-6)
    best = None
    for onset in ONSETS:
        for rise in RISES:
            for decay in DECAYS:
                params = model.make_params()
                for value, parameter in zip((onset, baseline, amplitude, rise, decay), spec.parameters, strict=True):
                    params[parameter.name].set(value=value, min=parameter.min, max=parameter.max)
                result = model.fit(y, params, t=t)
                if np.isfinite(result.chisqr) and (best is None or result.chisqr < best.chisqr):
                    best = result
    return best


def main() -> None:
    out = {}
    for name in CAPTURES:
        ds = idex.open_raw(DATA / name, group="events")
        day = name.split("_")[-2]
        for channel, spec in idex.load_schema(ds.attrs["idex_schema"]).fits.items():
            t = ds.idex.time(channel).values
            y = ds.idex.calibrated([channel])[channel].values
            for event in range(ds.sizes["event"]):
                valid = np.isfinite(y[event])
                result = best_fit(t[event][valid], y[event][valid], spec)
                out[f"{day}/{channel}/{event}"] = {
                    "chisqr": result.chisqr,
                    "params": [result.params[p.name].value for p in spec.parameters],
                }
                print(day, channel, event, result.chisqr, flush=True)
    (DATA / "impact_fits_lmfit.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
