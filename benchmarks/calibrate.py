"""Lab calibration speed: shots per minute through ``idex.calibrate`` (three curves, bootstrap errors).

Input: synthetic campaigns from known curves (``tests/synthetic_campaign.py``: realistic scatter, outliers,
missing pickup-tube speeds, failed fits). No public tool makes these curves from accelerator shots, so the
peer in the same run is the same fits done the way a script would do them: ``scipy.optimize.curve_fit`` on
the rise-time curve alone, with the bootstrap, from one start (no robust loss, no outlier pass).

Run: ``python benchmarks/calibrate.py [--shots 2000] [--bootstrap 200]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import synthetic_campaign  # noqa: E402

import idex  # noqa: E402


def curve(x, log_a, a1, a2, a3, log_vb, log_vc, log_k):
    """The broken power law in log10 as a script writes it."""
    k = 10.0**log_k
    return (
        log_a
        + a1 * x
        + (a2 - a1) / k * np.log10(1 + 10 ** (k * (x - log_vb)))
        + (a3 - a2) / k * np.log10(1 + 10 ** (k * (x - log_vc)))
    )


def scripted(shots, bootstrap: int, rng: np.random.Generator) -> None:
    """Rise-time curve only, plain least squares, with the same bootstrap."""
    ok = shots["target_low_fit_success"].values & np.isfinite(shots["particle_velocity"].values)
    x = np.log10(shots["particle_velocity"].values[ok])
    y = np.log10(shots["target_low_fit_rise_time"].values[ok])
    start = [1.0, -0.5, -1.0, -0.5, 0.7, 1.3, 0.6]
    bounds = (
        [-20, -10, -10, -10, x.min() - 0.3, x.min() - 0.3, 0],
        [20, 10, 10, 10, x.max() + 0.3, x.max() + 0.3, 1.7],
    )
    best, _ = curve_fit(curve, x, y, p0=start, bounds=bounds, maxfev=20000)
    for _ in range(bootstrap):
        pick = rng.integers(0, x.size, x.size)
        curve_fit(curve, x[pick], y[pick], p0=best, bounds=bounds, maxfev=20000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=2000)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    shots = synthetic_campaign.campaign(args.shots, seed=1, name="benchmark")
    start = time.perf_counter()
    result = idex.calibrate(shots, bootstrap=args.bootstrap)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    scripted(shots, args.bootstrap, np.random.default_rng(0))
    theirs = time.perf_counter() - start
    print(
        f"idex.calibrate: {args.shots} shots, rise time + yield + ion-grid law, {args.bootstrap} bootstrap "
        f"resamplings: {ours:.1f} s = {args.shots / ours * 60:.0f} shots/min "
        f"({result.rise_time.used} shots on the rise-time curve, {result.rise_time.excluded['outlier']} outliers)"
    )
    print(
        f"scripted curve_fit, rise time only, same bootstrap: {theirs:.1f} s = "
        f"{args.shots / theirs * 60:.0f} shots/min; idex does three curves in {ours / theirs:.2f}x its time"
    )


if __name__ == "__main__":
    main()
