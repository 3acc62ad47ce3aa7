"""Counts and rates of dust hits per window: by spin-phase quadrant, impact charge and mass (L2B), and on the sky
(L2C rectangular 6° grid, plus an equal-area HEALPix map), with Poisson intervals.

The variables keep the mission's names and definitions (``counts``, ``rate`` = counts / seconds of acquisition in
the window, not divided among quadrants, ``counts_by_charge``, ``rate_map``, …; bins from ``defs/l2_products.yaml``,
values beyond the outer edges clipped into the edge bins). Where idex differs from the pipeline (1.0.40), on
purpose:

==============================  =================================  ==============================================
case                            pipeline                           idex
==============================  =================================  ==============================================
NaN spin phase                  counted in the 225–315° quadrant   in ``counts_total`` and
                                                                   ``counts_without_spin_phase`` only
mass bins                       kg × 1e-15 again: all lowest bin   masses in kg, binned as they are
by-charge / by-mass arrays      withheld (fill values)             computed
retransmitted events            counted twice                      counted once (``duplicates_removed``)
no acquisition in the window    binned rates −1, agnostic NaN      every rate NaN, quality flag 0
uncertainty                     none                               Garwood central intervals (``*_lower/upper``)
==============================  =================================  ==============================================
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr

from idex.exceptions import IdexWarning, MissingKeyError
from idex.science.exposure import Exposure, dead_seconds, spec

__all__ = ["poisson_interval", "tally"]


def poisson_interval(counts: np.ndarray, confidence: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Garwood's exact central interval of a Poisson mean given ``counts`` (Gehrels 1986 for one sigma).

    Examples
    --------
    >>> low, high = poisson_interval(np.array([0, 1, 10]))
    >>> np.round(low, 3).tolist(), np.round(high, 3).tolist()
    ([0.0, 0.173, 6.891], [1.841, 3.3, 14.267])
    """
    from scipy.stats import chi2

    level = float(spec()["poisson_confidence"] if confidence is None else confidence)
    n = np.asarray(counts, dtype=float)
    alpha = 1.0 - level
    low = np.where(n > 0, chi2.ppf(alpha / 2, 2 * n) / 2, 0.0)
    high = chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2
    return low, high


def _bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index (edge values clipped into the outer bins), −1 for NaN."""
    finite = np.isfinite(values)
    index = np.clip(np.searchsorted(edges, np.where(finite, values, edges[0]), side="right") - 1, 0, edges.size - 2)
    return np.where(finite, index, -1)


def _values(events: xr.Dataset, name: str) -> np.ndarray:
    if name in events:
        return np.asarray(events[name].values, dtype=float)
    return np.full(events.sizes.get("event", 0), np.nan)


def _histogram(window: np.ndarray, keep: np.ndarray, shape: tuple[int, ...], *axes: np.ndarray) -> np.ndarray:
    """Counts per (window, *axes) of the events where ``keep``."""
    index = np.ravel_multi_index((window[keep], *(a[keep] for a in axes)), shape)
    return np.bincount(index, minlength=int(np.prod(shape))).reshape(shape).astype(np.int64)


def tally(
    events: xr.Dataset,
    exposure: Exposure,
    *,
    charge_edges: Any = None,
    mass_edges: Any = None,
    dust_only: bool = True,
    duplicate_times: np.ndarray | None = None,
    healpix_nside: int | None = None,
) -> xr.Dataset:
    """Counts, rates and their intervals per window of ``exposure``.

    Parameters
    ----------
    events : xarray.Dataset
        Events along ``event`` with ``epoch`` and, where known, ``spin_phase``, ``longitude``, ``latitude``,
        ``target_low_impact_charge`` (pC), ``target_low_dust_mass_estimate`` (kg) and ``dust_hit_flag``.
    exposure : Exposure
        Acquisition time per window (:func:`idex.science.exposure.exposure`).
    charge_edges, mass_edges : array-like, optional
        Bin edges (pC, kg); the official ones by default.
    dust_only : bool
        Count only events whose ``dust_hit_flag`` is 1 (the mission's rule).
    duplicate_times : numpy.ndarray, optional
        Times of retransmitted events already removed from ``events`` (counted per window in
        ``duplicates_removed``).
    healpix_nside : int, optional
        HEALPix resolution of ``counts_healpix`` (default from ``defs/l2_products.yaml``; 0 for none).

    Returns
    -------
    xarray.Dataset
        One record per window along ``epoch`` (the window start).
    """
    facts = spec()
    charge_edges = np.asarray(facts["charge_edges_pC"] if charge_edges is None else charge_edges, dtype=float)
    mass_edges = np.asarray(facts["mass_edges_kg"] if mass_edges is None else mass_edges, dtype=float)
    starts, ends = exposure.window_start, exposure.window_end
    n = starts.size
    epoch = (
        np.asarray(events["epoch"].values, dtype="datetime64[ns]")
        if "epoch" in events
        else np.array([], "datetime64[ns]")
    )
    window = np.searchsorted(ends, epoch, side="right")
    inside = (window < n) & (epoch >= starts[np.minimum(window, n - 1)])
    dust = inside.copy()
    if dust_only:
        if "dust_hit_flag" not in events:
            raise MissingKeyError("no dust_hit_flag: pass dust_only=False to count every event")
        dust &= np.asarray(events["dust_hit_flag"].values) == 1
    window = np.where(inside, window, 0)
    lower = float(facts["spin_phase_edges_deg"][0])
    phase = _values(events, "spin_phase")
    quadrant = np.where(np.isfinite(phase), (((np.nan_to_num(phase) - lower) % 360.0) // 90.0).astype(np.int64) % 4, -1)
    charge = _bin(_values(events, facts["charge_variable"]), charge_edges)
    mass = _bin(_values(events, facts["mass_variable"]), mass_edges)
    longitude = _values(events, "longitude") % 360.0
    latitude = np.clip(_values(events, "latitude"), -90.0, 90.0)
    step = float(facts["sky_grid_deg"])
    n_lon, n_lat = int(round(360.0 / step)), int(round(180.0 / step))
    has_direction = np.isfinite(longitude) & np.isfinite(latitude)
    lon_bin = np.where(has_direction, np.minimum((np.nan_to_num(longitude) // step).astype(np.int64), n_lon - 1), -1)
    lat_bin = np.where(
        has_direction, np.minimum(((np.nan_to_num(latitude) + 90.0) // step).astype(np.int64), n_lat - 1), -1
    )
    nc, nm = charge_edges.size - 1, mass_edges.size - 1
    ok_phase, ok_sky = dust & (quadrant >= 0), dust & has_direction
    counts = {
        "counts": _histogram(window, ok_phase, (n, 4), quadrant),
        "counts_by_charge": _histogram(window, ok_phase & (charge >= 0), (n, nc, 4), charge, quadrant),
        "counts_by_mass": _histogram(window, ok_phase & (mass >= 0), (n, nm, 4), mass, quadrant),
        "counts_map": _histogram(window, ok_sky, (n, n_lon, n_lat), lon_bin, lat_bin),
        "counts_by_charge_map": _histogram(
            window, ok_sky & (charge >= 0), (n, nc, n_lon, n_lat), charge, lon_bin, lat_bin
        ),
        "counts_by_mass_map": _histogram(window, ok_sky & (mass >= 0), (n, nm, n_lon, n_lat), mass, lon_bin, lat_bin),
    }
    per_window = {
        "counts_total": dust,
        "counts_without_spin_phase": dust & (quadrant < 0),
        "counts_without_direction": dust & ~has_direction,
        "counts_without_charge": dust & (charge < 0),
        "counts_without_mass": dust & (mass < 0),
        "events_outside_acquisition": dust
        & (exposure.state_at(epoch) == 0)
        & ~exposure.state_unknown_at(epoch, window),
    }
    totals = {name: np.bincount(window[mask], minlength=n)[:n].astype(np.int64) for name, mask in per_window.items()}
    removed = np.asarray([] if duplicate_times is None else duplicate_times, dtype="datetime64[ns]")
    totals["duplicates_removed"] = np.histogram(
        removed.astype(np.int64), np.append(starts, ends[-1:]).astype(np.int64)
    )[0].astype(np.int64)
    on = exposure.on_seconds
    good = on > 0
    per_second = np.where(good, 1.0 / np.where(good, on, 1.0), np.nan)

    def rate(c: np.ndarray) -> np.ndarray:
        return c * per_second.reshape((n,) + (1,) * (c.ndim - 1))

    out: dict[str, Any] = {}
    dims = {
        "counts": ("spin_phase",),
        "counts_by_charge": ("impact_charge", "spin_phase"),
        "counts_by_mass": ("mass", "spin_phase"),
        "counts_map": ("rectangular_lon_pixel", "rectangular_lat_pixel"),
        "counts_by_charge_map": ("impact_charge", "rectangular_lon_pixel", "rectangular_lat_pixel"),
        "counts_by_mass_map": ("mass", "rectangular_lon_pixel", "rectangular_lat_pixel"),
    }
    for name, c in counts.items():
        rate_name = name.replace("counts", "rate")
        out[name] = (("epoch", *dims[name]), c)
        out[rate_name] = (("epoch", *dims[name]), rate(c))
        if name in ("counts", "counts_by_charge", "counts_by_mass"):
            low, high = poisson_interval(c)
            out[f"{rate_name}_lower"] = (("epoch", *dims[name]), rate(low))
            out[f"{rate_name}_upper"] = (("epoch", *dims[name]), rate(high))
    for name, values in totals.items():
        out[name] = ("epoch", values)
    low, high = poisson_interval(totals["counts_total"])
    out.update(
        rate_total=("epoch", rate(totals["counts_total"])),
        rate_total_lower=("epoch", rate(low)),
        rate_total_upper=("epoch", rate(high)),
        on_seconds=("epoch", on),
        on_seconds_by_spin_phase=(("epoch", "spin_phase"), exposure.quadrant_seconds),
        unknown_state_seconds=("epoch", exposure.unknown_seconds),
        state_at_start_known=("epoch", exposure.state_known.astype(np.uint8)),
        rate_calculation_quality_flags=("epoch", good.astype(np.uint8)),
        epoch_delta_plus=("epoch", (ends - starts).astype(np.int64)),
        epoch_delta_minus=("epoch", np.zeros(n, dtype=np.int64)),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        quadrant_rate = np.where(exposure.quadrant_seconds > 0, counts["counts"] / exposure.quadrant_seconds, np.nan)
    out["rate_per_quadrant_time"] = (("epoch", "spin_phase"), quadrant_rate)
    out.update(_live_time(events, epoch, exposure, totals["counts_total"]))
    out.update(
        _healpix(
            window,
            ok_sky,
            longitude,
            latitude,
            n,
            per_second,
            int(facts["healpix_nside"] if healpix_nside is None else healpix_nside),
        )
    )
    coords = _coords(charge_edges, mass_edges, n_lon, n_lat, step, lower)
    result = xr.Dataset(out, coords={"epoch": starts, **coords})
    for key, variable in result.data_vars.items():
        variable.attrs.update(facts["variables"].get(str(key), {}))
    result["on_seconds_by_spin_phase"].attrs["method"] = exposure.quadrant_method
    result.attrs.update(
        dust_only=int(dust_only),
        poisson_interval=f"Garwood central {facts['poisson_confidence']:.4f}",
        events_outside_windows=int(np.count_nonzero(~inside)),
    )
    _warn(totals, int(np.count_nonzero(~inside)), good)
    return result


_SECONDS_PER = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _live_time(events: xr.Dataset, epoch: np.ndarray, exposure: Exposure, total: np.ndarray) -> dict[str, Any]:
    """Dead time of the recorded events per window, the live time, and the dead-time corrected total rate."""
    if "dead_time" not in events:
        return {}
    unit = str(events["dead_time"].attrs.get("units", "")).strip()
    if unit not in _SECONDS_PER:
        warnings.warn(
            f"dead_time has unit {unit!r}, not one of {sorted(_SECONDS_PER)}: no dead-time correction",
            IdexWarning,
            stacklevel=4,
        )
        return {}
    dead = dead_seconds(exposure, epoch, np.asarray(events["dead_time"].values, dtype=float) * _SECONDS_PER[unit])
    live = exposure.on_seconds - dead
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(live > 0, total / live, np.nan)
    return {"dead_seconds": ("epoch", dead), "live_seconds": ("epoch", live), "rate_total_live": ("epoch", rate)}


def _coords(
    charge_edges: np.ndarray, mass_edges: np.ndarray, n_lon: int, n_lat: int, step: float, lower: float
) -> dict[str, Any]:
    charge_mid = np.sqrt(charge_edges[:-1] * charge_edges[1:])
    mass_mid = np.sqrt(mass_edges[:-1] * mass_edges[1:])
    lon_mid = (np.arange(n_lon) + 0.5) * step
    lat_mid = -90.0 + (np.arange(n_lat) + 0.5) * step
    phase_mid = np.array(spec()["spin_phase_labels"], dtype=np.uint16)
    labels = {
        "spin_phase_labels": ("spin_phase", phase_mid.astype(str)),
        "charge_labels": ("impact_charge", charge_mid.astype(str)),
        "mass_labels": ("mass", mass_mid.astype(str)),
        "rectangular_lon_pixel_label": ("rectangular_lon_pixel", lon_mid.astype(str)),
        "rectangular_lat_pixel_label": ("rectangular_lat_pixel", lat_mid.astype(str)),
    }
    return labels | {
        "spin_phase": ("spin_phase", phase_mid, {"units": "deg", "bin_edges": lower + 90.0 * np.arange(5)}),
        "impact_charge": ("impact_charge", charge_mid, {"units": "pC", "bin_edges": charge_edges}),
        "mass": ("mass", mass_mid, {"units": "kg", "bin_edges": mass_edges}),
        "rectangular_lon_pixel": ("rectangular_lon_pixel", lon_mid, {"units": "degrees"}),
        "rectangular_lat_pixel": ("rectangular_lat_pixel", lat_mid, {"units": "degrees"}),
    }


def _healpix(
    window: np.ndarray,
    keep: np.ndarray,
    longitude: np.ndarray,
    latitude: np.ndarray,
    n: int,
    per_second: np.ndarray,
    nside: int,
) -> dict[str, Any]:
    if nside <= 0:
        return {}
    try:
        import astropy.units as u
        from astropy_healpix import HEALPix
    except ImportError:
        warnings.warn("no HEALPix map: pip install 'idex[pointing]' (astropy-healpix)", IdexWarning, stacklevel=3)
        return {}
    grid = HEALPix(nside=nside, order="nested")
    pixel = np.full(window.size, -1, dtype=np.int64)
    pixel[keep] = grid.lonlat_to_healpix(longitude[keep] * u.deg, latitude[keep] * u.deg)
    counts = _histogram(window, keep, (n, grid.npix), pixel)
    attrs = {"healpix_nside": nside, "healpix_order": "nested", "frame": "ECLIPJ2000"}
    return {
        "counts_healpix": (("epoch", "healpix_pixel"), counts, attrs),
        "rate_healpix": (("epoch", "healpix_pixel"), counts * per_second[:, None], attrs),
        "healpix_pixel": ("healpix_pixel", np.arange(grid.npix), {"long_name": "HEALPix pixel index (nested)"}),
    }


def _warn(totals: dict[str, np.ndarray], outside_windows: int, good: np.ndarray) -> None:
    notes = [
        f"{int(totals[name].sum())} {name.removeprefix('counts_').replace('_', ' ')}"
        for name in (
            "counts_without_spin_phase",
            "counts_without_direction",
            "duplicates_removed",
            "events_outside_acquisition",
        )
        if totals[name].sum()
    ]
    if outside_windows:
        notes.append(f"{outside_windows} events outside every window (not counted)")
    if not good.all():
        notes.append(f"{int(np.count_nonzero(~good))} window(s) with no acquisition time (rates NaN)")
    if notes:
        warnings.warn("rates: " + "; ".join(notes), IdexWarning, stacklevel=3)
