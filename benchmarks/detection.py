"""Detection benchmark: probability of detecting an impact against its amplitude, and false alarms on noise and drifts.

Records: target-high records at the real noise (phase-randomised surrogates of the quiet records of the
2023-12-14 capture, ``tests/detection_records.py``), with impact pulses of 0.5-8 times the per-sample noise
(onsets −15 to +3 µs, so some start before the trigger), and without (pure noise; slow drifts of 10 times the
noise). idex's evidence test (``idex.fit.detection``, false-alarm probability 1e-3 per record from the schema)
against the single-sample rule it replaced (3-sample running-mean extreme over the spread of the smoothed
samples before −5 µs, threshold 5), in the same run on the same records. Prints both curves, the false-alarm
rates, and records/s of the whole fit with detection.

Run: ``python benchmarks/detection.py [--records 1000]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from detection_records import drifts, pulses, surrogates  # noqa: E402

import idex  # noqa: E402
from idex.fit.columns import FitColumns  # noqa: E402
from idex.fit.events import fit_arrays  # noqa: E402
from idex.fit.models import MODELS  # noqa: E402
from idex.model.calibration import calibrated, schema_of  # noqa: E402
from idex.model.quality import FitStatus  # noqa: E402

STATUS = FitColumns(MODELS["impact"].parameters)["status"]  # of fit_arrays' rows


def single_sample_rule(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The replaced test: |3-sample running-mean extreme − baseline| / spread of the smoothed baseline ≥ 5."""
    quiet = t <= -5.0
    kernel = np.ones(3) / 3
    smooth = np.array([np.convolve(row, kernel, mode="same") for row in y])
    baseline = smooth[:, quiet][:, 1:-1]
    extreme = np.abs(smooth[:, 1:-1] - baseline.mean(axis=1, keepdims=True)).max(axis=1)
    return extreme / baseline.std(axis=1) >= 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    n = parser.parse_args().records
    ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    fits = ds.idex.fit(["target_high"])
    quiet = calibrated(ds, ["target_high"])["target_high"].values[fits["target_high_fit_status"].values == 5]
    t = np.asarray(ds.idex.time("target_high").values)[0]
    spec = schema_of(ds).fits["target_high"]
    rng = np.random.default_rng(2026)
    sigma = float(np.std(surrogates(quiet, 200, rng)))
    print(f"{len(quiet)} real quiet records as noise source, per-sample noise {sigma:.3f} pC, {n} records per row")
    print(f"{'records':>22} {'idex evidence':>14} {'single sample':>14}")
    elapsed = 0.0
    cases = [("pure noise", surrogates(quiet, n, rng))]
    cases.append(("drift 10x noise", drifts(t, surrogates(quiet, n, rng), 10 * sigma, rng)))
    for amplitude in (0.5, 1, 2, 3, 4, 6, 8):
        cases.append((f"pulse {amplitude}x noise", pulses(t, surrogates(quiet, n, rng), amplitude * sigma, rng)))
    for name, y in cases:
        y = y + 330.0
        start = time.perf_counter()
        status = fit_arrays(np.tile(t, (n, 1)), y, spec)[:, STATUS]
        elapsed += time.perf_counter() - start
        print(f"{name:>22} {np.mean(status != FitStatus.NO_SIGNAL):14.4f} {single_sample_rule(t, y).mean():14.4f}")
    print(f"fit + detection: {len(cases) * n / elapsed:.0f} records/s")


if __name__ == "__main__":
    main()
