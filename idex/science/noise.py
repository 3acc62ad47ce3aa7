"""Noise diagnostics of the waveform channels from their pre-trigger samples (``ds.idex.noise()``).

Per event and channel: the samples before the trigger (the schema's ``composition`` baseline window for the
high-rate channels, the first half of the pre-trigger record for the others) are the noise. Reported: its
histogram with a Gaussian fitted to it (centre, width and the reduced chi-square of the fit, a test of
Gaussianity: quantised ADC noise and pickup are not always Gaussian), the robust width (1.4826 MAD), the
averaged power spectrum (one-sided, DN²/MHz; periodic pickup shows as lines) and the autocorrelation at
lags up to :data:`MAX_LAG` samples (neighbouring samples are not independent when it is not a spike at
zero lag: line significances depend on it, see :mod:`idex.science.line_fit`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit
from scipy.signal import welch

from idex.exceptions import MissingKeyError
from idex.model.calibration import schema_of
from idex.model.statistics import robust_sigma

__all__ = ["MAX_LAG", "noise"]

MAX_LAG = 64
"""Longest lag of the autocorrelation (samples)."""
SEGMENT = 256
"""Samples per Welch segment of the power spectrum."""


def _gauss(x: np.ndarray, height: float, centre: float, width: float) -> np.ndarray:
    return height * np.exp(-0.5 * ((x - centre) / width) ** 2)


def _histogram_fit(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Unit-DN histogram of integer samples and a Gaussian fitted to it: counts, bin centres, (centre, width, chi2)."""
    low, high = np.floor(values.min()) - 0.5, np.ceil(values.max()) + 0.5
    counts, edges = np.histogram(values, bins=np.arange(low, high + 1))
    centres = 0.5 * (edges[1:] + edges[:-1])
    start = (float(counts.max()), float(np.median(values)), max(float(values.std()), 0.5))
    try:
        (height, centre, width), _ = curve_fit(_gauss, centres, counts, p0=start, sigma=np.sqrt(counts + 1.0))
    except RuntimeError:
        return counts, centres, (np.nan, np.nan, np.nan)
    model = _gauss(centres, height, centre, width)
    dof = max(int((counts > 0).sum()) - 3, 1)
    chi2 = float(np.sum((counts - model) ** 2 / np.maximum(model, 1.0)) / dof)
    return counts, centres, (float(centre), abs(float(width)), chi2)


def noise(ds: xr.Dataset, channels: list[str] | None = None) -> xr.Dataset:
    """Pre-trigger noise of every event and channel.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model.
    channels : list of str, optional
        Waveform channels (default: every channel of the schema present in ``ds``).

    Returns
    -------
    xarray.Dataset
        Per ``(event, channel)``: ``noise_mean`` and ``noise_sigma`` (Gaussian fit to the histogram, DN),
        ``noise_robust_sigma`` (1.4826 MAD), ``noise_gauss_redchi``, ``noise_samples``; per
        ``(channel, frequency_<dim>)`` the event-averaged ``noise_power_<dim>`` (DN²/MHz); per
        ``(event, channel, lag)`` ``noise_autocorrelation``; per ``(channel, noise_bin)`` the summed
        histogram ``noise_histogram`` (DN from the median) for the figure.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> diagnostics = ds.idex.noise(["tof_high"])
    >>> float(diagnostics["noise_sigma"].median()) > 0
    True
    """
    schema = schema_of(ds)
    names = channels or [name for name in schema.channels if name in ds]
    unknown = [name for name in names if name not in schema.channels or name not in ds]
    if unknown:
        raise MissingKeyError(f"no waveform channel {', '.join(unknown)} in the dataset's schema {schema.name!r}")
    n_events = ds.sizes["event"]
    stats = {key: np.full((n_events, len(names)), np.nan) for key in ("mean", "sigma", "robust", "redchi", "count")}
    correlation = np.full((n_events, len(names), MAX_LAG + 1), np.nan)
    bins = np.arange(-30, 31)
    histogram = np.zeros((len(names), bins.size))
    spectra: dict[str, np.ndarray] = {}  # frequency axis per sample dimension
    power: dict[int, list[np.ndarray]] = {}  # densities per channel
    for c, name in enumerate(names):
        spec = schema.channels[name]
        raw = ds[name].values.astype(np.float64)
        raw[raw == spec.fill_value] = np.nan
        trigger = ds[spec.trigger_time].values
        clock = ds[spec.time].values
        for event in range(n_events):
            if not np.isfinite(trigger[event]):
                continue
            quiet = raw[event][: int(np.searchsorted(clock, trigger[event]) * 0.9)]
            quiet = quiet[np.isfinite(quiet)]
            if quiet.size < 16:
                continue
            median = np.median(quiet)
            counts, centres, (centre, width, redchi) = _histogram_fit(quiet)
            stats["mean"][event, c], stats["sigma"][event, c], stats["redchi"][event, c] = centre, width, redchi
            stats["robust"][event, c] = robust_sigma(quiet)
            stats["count"][event, c] = quiet.size
            offsets = np.round(centres - median).astype(int)
            keep = np.abs(offsets) <= bins[-1]
            np.add.at(histogram[c], offsets[keep] - bins[0], counts[keep])
            x = quiet - quiet.mean()
            lags = min(MAX_LAG, x.size - 1)
            correlation[event, c, : lags + 1] = [
                np.sum(x[: x.size - k] * x[k:]) / np.sum(x * x) for k in range(lags + 1)
            ]
            frequency, density = welch(x, fs=spec.sample_rate_mhz, nperseg=min(SEGMENT, x.size))
            spectra[spec.dim] = frequency
            power.setdefault(c, []).append(density)
    dims = ("event", "channel")
    result = xr.Dataset(
        {
            "noise_mean": (
                dims,
                stats["mean"],
                {"long_name": "Centre of the Gaussian fitted to the noise", "units": "dN"},
            ),
            "noise_sigma": (
                dims,
                stats["sigma"],
                {"long_name": "Width of the Gaussian fitted to the noise", "units": "dN"},
            ),
            "noise_robust_sigma": (dims, stats["robust"], {"long_name": "1.4826 MAD of the noise", "units": "dN"}),
            "noise_gauss_redchi": (dims, stats["redchi"], {"long_name": "Reduced chi-square of the Gaussian fit"}),
            "noise_samples": (dims, stats["count"], {"long_name": "Pre-trigger samples used"}),
            "noise_autocorrelation": (
                ("event", "channel", "lag"),
                correlation,
                {"long_name": "Normalised autocorrelation of the noise"},
            ),
            "noise_histogram": (
                ("channel", "noise_bin"),
                histogram,
                {"long_name": "Summed histogram of the noise about each record's median"},
            ),
        },
        coords={
            "event": ds["event"],
            "channel": names,
            "lag": np.arange(MAX_LAG + 1),
            "noise_bin": ("noise_bin", bins, {"units": "dN"}),
        },
    )
    for dim, frequency in spectra.items():
        rows = [
            np.mean(power[c], axis=0)
            if schema.channels[n].dim == dim and c in power
            else np.full(frequency.size, np.nan)
            for c, n in enumerate(names)
        ]
        result[f"noise_power_{dim}"] = (
            ("channel", f"frequency_{dim}"),
            np.array(rows),
            {"long_name": "Event-averaged power spectral density of the noise", "units": "dN2/MHz"},
        )
        result = result.assign_coords({f"frequency_{dim}": (f"frequency_{dim}", frequency, {"units": "MHz"})})
    return result
