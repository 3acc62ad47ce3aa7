"""Composition benchmark: ``ds.idex.composition()`` against a per-peak lmfit loop on the same line windows.

Input: the events of the 2023-12-14 capture that have a mass scale, repeated ``--copies`` times. idex does, per
spectrum, three linearised fits that place every line above 5 errors and shape (width, tail) every line above 20,
then two linear template fits over every line of the line list (isotope lines, then species with their isotope
patterns), with the noise autocorrelation, the positions, shapes and line-shape spread in the errors. The
reference does what an analyst does with lmfit: for every line of the list inside the record, one EMG (centre,
width, tail, area) plus a constant baseline fitted to the combined spectrum in a window of ±0.1 µs around the
line's predicted time, from the schema's line shape. Both start from the same mass scale and the same combined
spectrum (computed once, outside the timings). Prints spectra/s for both and the ratio, on one core.

Run: ``python benchmarks/composition.py [--copies 8] [--reference-spectra 20]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("IDEX_THREADS", "1")

import lmfit  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from scipy.special import erfc  # noqa: E402

import idex  # noqa: E402
from idex.science.line_list import load_lines  # noqa: E402
from idex.testing import sample_capture  # noqa: E402

HALF_WINDOW_US = 0.1


def emg(t, center, sigma, decay_rate, area, baseline):
    """The area-parameterised EMG with a constant baseline, as a user writes it with SciPy."""
    exponent = 0.5 * decay_rate * (2 * center + decay_rate * sigma**2 - 2 * t)
    tail = erfc((center + decay_rate * sigma**2 - t) / (np.sqrt(2) * sigma))
    with np.errstate(divide="ignore"):
        return baseline + area * 0.5 * decay_rate * np.exp(exponent + np.log(tail))


def reference(ds: xr.Dataset, n_spectra: int) -> float:
    """Seconds per spectrum of one lmfit EMG fit per line window."""
    config = idex.load_schema(ds.attrs["idex_schema"]).composition
    lines = load_lines(config.lines)
    masses = lines.masses[lines.fitted]
    clock = ds["time_high"].values
    model = lmfit.Model(emg)
    start = time.perf_counter()
    fits = 0
    for event in range(n_spectra):
        y = ds["tof_combined"].values[event]
        stretch, shift = float(ds["mass_stretch"].values[event]), float(ds["mass_shift"].values[event])
        for m in masses:
            centre = shift + stretch * np.sqrt(m)
            window = np.abs(clock - centre) <= HALF_WINDOW_US
            if window.sum() < 10 or not np.isfinite(y[window]).all():
                continue
            params = model.make_params(
                center=centre - 0.008,
                sigma=config.line_sigma_us,
                decay_rate=1 / (config.line_tau_us[0] + config.line_tau_us[1] * m),
                area=max(float(np.sum(y[window]) * (clock[1] - clock[0])), 1e-9),
                baseline=float(np.median(y[window])),
            )
            params["sigma"].min, params["decay_rate"].min = 1e-4, 1.0
            model.fit(y[window], params, t=clock[window])
            fits += 1
    elapsed = time.perf_counter() - start
    print(f"  lmfit: {fits} line fits in {elapsed:.2f} s ({fits / max(n_spectra, 1):.0f} per spectrum)")
    return elapsed / n_spectra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--reference-spectra", type=int, default=20)
    args = parser.parse_args()
    events = idex.open_raw(sample_capture("2023_12"), group="events").idex.mass()
    events = events.isel(event=np.flatnonzero(np.isfinite(events["mass_stretch"].values)))
    ds = xr.concat([events] * args.copies, dim="event").idex.combined_tof()
    ds.isel(event=[0]).idex.composition()  # warm-up (compiled EMG)
    start = time.perf_counter()
    result = ds.idex.composition()
    ours = (time.perf_counter() - start) / ds.sizes["event"]
    analysed = int((result["composition_status"].values == 0).sum())
    print(
        f"idex composition: {ds.sizes['event']} spectra ({analysed} analysed, {result.sizes['species']} lines and "
        f"{result.sizes['element']} elements each): {1 / ours:.1f} spectra/s"
    )
    theirs = reference(ds, min(args.reference_spectra, ds.sizes["event"]))
    print(f"per-peak lmfit loop: {1 / theirs:.2f} spectra/s")
    print(f"ratio idex / lmfit: {theirs / ours:.1f}x (idex also gives species fits, covariances and upper limits)")


if __name__ == "__main__":
    main()
