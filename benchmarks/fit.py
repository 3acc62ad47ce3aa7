"""Fitting benchmark: idex impact-model fits of all three low-rate channels against a per-event lmfit loop.

Input: the 14 real events of the 2023-12-14 capture repeated ``--copies`` times (so the mix of clean
pulses and noise-only events is the real one). The compiled engine (idex.fit.engine) fits target low, target high and
ion grid for every event in one call per channel, from its data-driven starts (idex.fit.guesses.starts) and the
global grid start (idex.fit.grid), keeping the best and polishing it. The reference does what a careful analyst
does with lmfit, at the same χ² quality:
a plain NumPy model, the same bounds, the same starts, one lmfit fit per start and event, keeping the best;
on every record (idex fits every record, then judges its evidence for a pulse; both fit the same). Prints
fits/s for both (wall clock and per CPU second), the ratio, and how often each reaches the other's optimum, on
one core; then the engine on every core (blocks of events in parallel threads) against itself on one. Last,
``fit_peaks`` (find and fit every TOF-High peak with the EMG) against lmfit fits of each peak window from the same
starts, the best kept.

Run: ``python benchmarks/fit.py [--copies 100] [--reference-events 28] [--reference-peaks 300]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import lmfit  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from scipy.special import erfc  # noqa: E402

import idex  # noqa: E402
from idex.fit.columns import FitColumns  # noqa: E402
from idex.fit.events import fit_arrays  # noqa: E402
from idex.fit.grid import grid_start  # noqa: E402
from idex.fit.guesses import shape_of, starts  # noqa: E402
from idex.fit.models import MODELS  # noqa: E402
from idex.fit.peaks import peak_windows  # noqa: E402
from idex.model.quality import FitStatus  # noqa: E402
from idex.threads import n_threads  # noqa: E402

CHANNELS = ("target_low", "target_high", "ion_grid")
COLUMNS = FitColumns(MODELS["impact"].parameters)  # of fit_arrays' rows


def impact(t, time_of_impact, baseline, amplitude, rise_time, discharge_time):
    """The impact model as a user writes it in NumPy (ALGORITHMS §2.2)."""
    s = np.maximum(t - time_of_impact, 0.0)
    return baseline + np.where(
        t > time_of_impact, amplitude * (1 - np.exp(-s / rise_time)) * np.exp(-s / discharge_time), 0.0
    )


def emg(t, center, sigma, decay_rate, area):
    """The area-parameterised EMG as a user writes it with SciPy (ALGORITHMS §2.5)."""
    exponent = 0.5 * decay_rate * (2 * center + decay_rate * sigma**2 - 2 * t)
    tail = erfc((center + decay_rate * sigma**2 - t) / (np.sqrt(2) * sigma))
    with np.errstate(divide="ignore"):  # exp(E) * erfc written as one exponential: finite where erfc underflows
        return area * 0.5 * decay_rate * np.exp(exponent + np.log(tail))


def compare_peak_fits(ds: xr.Dataset, reference_windows: int) -> None:
    """fit_peaks (find + fit every TOF peak) against lmfit EMG fits of each window from the same starts."""
    idex.open_raw(idex.testing.sample_capture(), group="events").idex.fit_peaks()  # warm-up
    t0 = time.perf_counter()
    peaks = ds.idex.fit_peaks()
    ours_seconds = time.perf_counter() - t0
    windows = peak_windows(ds)
    fitted = int((peaks["tof_high_peak_status"].values >= 0).sum())
    model = lmfit.Model(emg, independent_vars=["t"])
    names = ("center", "sigma", "decay_rate", "area")
    usable = np.flatnonzero(np.isfinite(windows.y).sum(axis=1) > len(names))[:reference_windows]
    t0 = time.perf_counter()
    chisqr = []
    for i in usable:  # windows with more valid samples than parameters (idex says not_finite for the others)
        valid = np.isfinite(windows.y[i])
        best = np.inf
        for start in windows.p0[:, i]:  # the same starts, the best kept
            params = model.make_params(**dict(zip(names, start, strict=True)))
            for name, low in zip(names, windows.lower, strict=True):
                params[name].set(min=low)
            best = min(best, model.fit(windows.y[i][valid], params, t=windows.t[i][valid], max_nfev=2000).chisqr)
        chisqr.append(best)
    reference_seconds = time.perf_counter() - t0
    ours = peaks["tof_high_peak_chisqr"].values[windows.rows[usable], windows.slots[usable]]
    as_good = int(np.sum(ours <= np.array(chisqr) * 1.01 + 1e-12))
    ours_rate, reference_rate = fitted / ours_seconds, len(chisqr) / reference_seconds
    print(
        f"fit_peaks (find + EMG fit of every TOF-High peak): {fitted} peaks in {ds.sizes['event']} events, "
        f"{ours_rate:.0f} peaks/s; lmfit, SciPy EMG, same windows and {windows.p0.shape[0]} starts: "
        f"{reference_rate:.0f} peaks/s "
        f"({len(chisqr)} peaks); ratio {ours_rate / reference_rate:.0f}x; idex's chi-square within 1 % of "
        f"lmfit's or lower in {as_good}/{len(chisqr)}"
    )


def lmfit_best(model: lmfit.Model, t: np.ndarray, y: np.ndarray, spec, first: np.ndarray) -> float:
    """Best χ² of one lmfit fit per start."""
    best = np.inf
    for p0 in first:
        params = model.make_params()
        for value, parameter in zip(p0, spec.parameters, strict=True):
            params[parameter.name].set(value=value, min=parameter.min, max=parameter.max)
        best = min(best, model.fit(y, params, t=t, max_nfev=2000).chisqr)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--reference-events", type=int, default=28)
    parser.add_argument("--reference-peaks", type=int, default=300)
    args = parser.parse_args()
    real = idex.open_raw(idex.testing.sample_capture(), group="events")
    ds = xr.concat([real] * args.copies, dim="event")
    n = ds.sizes["event"]
    schema = idex.load_schema("science_2023_12")
    inputs = {c: (ds.idex.time(c).values, ds.idex.calibrated([c])[c].values) for c in CHANNELS}
    fit_arrays(inputs["ion_grid"][0][:2], inputs["ion_grid"][1][:2], schema.fits["ion_grid"])  # warm-up
    cores = n_threads()
    seconds, cpu = {}, {}
    for threads in sorted({1, cores}):
        os.environ["IDEX_NUM_THREADS"] = str(threads)
        t0, c0 = time.perf_counter(), time.process_time()
        outputs = {channel: fit_arrays(*inputs[channel], schema.fits[channel]) for channel in CHANNELS}
        seconds[threads], cpu[threads] = time.perf_counter() - t0, time.process_time() - c0
    del os.environ["IDEX_NUM_THREADS"]
    ours_seconds = seconds[1]
    tried = sum(out.shape[0] for out in outputs.values())  # every record is fitted, then its evidence judged
    converged = sum(int((out[:, COLUMNS["status"]] == FitStatus.CONVERGED).sum()) for out in outputs.values())
    model = lmfit.Model(impact, independent_vars=["t"])
    m = args.reference_events
    reference_fits, reference_seconds, reference_cpu, ours_as_good, lmfit_as_good, judged = 0, 0.0, 0.0, 0, 0, 0
    for channel in CHANNELS:
        spec = schema.fits[channel]
        t, y = inputs[channel][0][:m], inputs[channel][1][:m]
        baseline = (t >= spec.baseline_us[0]) & (t <= spec.baseline_us[1])
        first = starts(shape_of(t, y, baseline, positive=spec.positive), [p.initial for p in spec.parameters])
        bounds = [np.array([getattr(p, side) for p in spec.parameters]) for side in ("min", "max")]
        first = np.concatenate([first, grid_start(t, y, np.isfinite(y), *bounds)[None]])  # as fit_arrays adds it
        for i in range(min(m, n)):
            t0, c0 = time.perf_counter(), time.process_time()
            best = lmfit_best(model, t[i], y[i], spec, first[:, i])
            reference_seconds, reference_cpu = (
                reference_seconds + time.perf_counter() - t0,
                reference_cpu + (time.process_time() - c0),
            )
            reference_fits += 1
            if outputs[channel][i, COLUMNS["status"]] == FitStatus.NO_SIGNAL:
                continue  # idex withholds the numbers of a record without evidence of a pulse: nothing to compare
            ours = outputs[channel][i, COLUMNS["chisqr"]]
            judged += 1
            ours_as_good += ours <= best * 1.01
            lmfit_as_good += best <= ours * 1.01
    ours_rate = tried / ours_seconds
    reference_rate = reference_fits / reference_seconds
    print(
        f"idex engine: {n} events x 3 channels, {tried} fits ({converged} converged), "
        f"{first.shape[0]} starts each: {ours_rate:.0f} fits/s ({tried / cpu[1]:.0f} per CPU second)"
    )
    print(
        f"lmfit, NumPy model, same {first.shape[0]} starts, best kept, on the first {m} events: "
        f"{reference_rate:.1f} fits/s ({reference_fits / reference_cpu:.1f} per CPU second; {reference_fits} fits)"
    )
    print(  # CPU time: the machine's other load slows both runs' wall clocks unequally, not their CPU seconds
        f"ratio (one core each): {ours_rate / reference_rate:.0f}x wall clock, "
        f"{tried / cpu[1] / (reference_fits / reference_cpu):.0f}x CPU time"
    )
    if cores > 1:
        print(
            f"idex engine on {cores} threads: {tried / seconds[cores]:.0f} fits/s = "
            f"{seconds[1] / seconds[cores]:.2f}x its one-thread rate"
        )
    print(
        f"same optimum (within 1 %, the {judged} records with evidence of a pulse): idex reaches lmfit's in "
        f"{ours_as_good}/{judged}, lmfit reaches idex's in {lmfit_as_good}/{judged}"
    )
    compare_peak_fits(ds, args.reference_peaks)


if __name__ == "__main__":
    main()
