"""Fitting benchmark: idex impact-model fits of all three low-rate channels against a per-event lmfit loop.

Input: the 14 real events of the 2023-12-14 capture repeated ``--copies`` times (so the mix of clean
pulses and noise-only events is the real one). The compiled engine (idex.lm) fits target low, target high and
ion grid for every event in one call per channel; the reference fits the same events one at a time
with ``lmfit`` (same model, same initial guesses and bounds) on a subset. Prints events/s for both
and the ratio, on one core.

Run: ``python benchmarks/fit.py [--copies 100] [--reference-events 28]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

import idex  # noqa: E402
from idex.fitting import fit_arrays  # noqa: E402
from idex.guesses import RULES, shape_of  # noqa: E402
from idex.models import lmfit_model  # noqa: E402

CHANNELS = ("target_low", "target_high", "ion_grid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--reference-events", type=int, default=28)
    args = parser.parse_args()
    real = idex.open_raw(idex.testing.sample_capture(), group="events")
    ds = xr.concat([real] * args.copies, dim="event")
    n = ds.sizes["event"]
    schema = idex.load_schema("science_2023_12")
    inputs = {c: (ds.idex.time(c).values, ds.idex.calibrated([c])[c].values) for c in CHANNELS}
    fit_arrays(inputs["ion_grid"][0][:2], inputs["ion_grid"][1][:2], schema.fits["ion_grid"])  # warm-up
    t0 = time.perf_counter()
    converged = 0
    for channel in CHANNELS:
        out = fit_arrays(*inputs[channel], schema.fits[channel])
        converged += int(np.isin(out[:, 2 * 5 + 2], (0, 3)).sum())
    ours = n / (time.perf_counter() - t0)
    m = args.reference_events
    t0 = time.perf_counter()
    for channel in CHANNELS:
        spec = schema.fits[channel]
        t, y = inputs[channel][0][:m], inputs[channel][1][:m]
        baseline = (t >= spec.baseline_us[0]) & (t <= spec.baseline_us[1])
        p0 = np.stack([RULES[p.initial](shape_of(t, y, baseline, positive=spec.positive))
                       for p in spec.parameters], axis=1)
        model = lmfit_model(spec.model)
        for i in range(m):
            params = model.make_params()
            for value, parameter in zip(p0[i], spec.parameters):
                params[parameter.name].set(value=value, min=parameter.min, max=parameter.max)
            model.fit(y[i], params, t=t[i], max_nfev=2000)
    reference = m / (time.perf_counter() - t0)
    print(f"idex engine: {n} events x 3 channels (impact model) in one call per channel: {ours:.0f} events/s "
          f"({converged} of {3 * n} fits converged)")
    print(f"per-event lmfit loop on the first {m} events: {reference:.1f} events/s")
    print(f"ratio: {ours / reference:.0f}x")


if __name__ == "__main__":
    main()
