"""Figures of the rates products: the exposure-normalised sky map, the rate by spin phase, and dust counts against
IMAP's orbit (heliocentric ecliptic longitude) and date over many windows.

Every figure takes the Dataset of :func:`idex.io.rate_products.rates` (or an L2B/L2C file read back), and says in
its title which windows, how many dust hits and how much acquisition time it shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.atomic import save_figure
from idex.exceptions import InputError

__all__ = ["readable_labels", "render_orbit", "render_rate_map", "render_spin_phase", "summary"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def readable_labels(ax: Any) -> None:
    """White longitude labels with a dark outline: legible on the darkest and the lightest colours of a Mollweide
    map, where they sit (the latitude labels are outside the map and stay as they are)."""
    import matplotlib.patheffects as effects

    outline = [effects.withStroke(linewidth=2.5, foreground="black")]
    for label in ax.get_xticklabels():
        label.set_color("white")
        label.set_path_effects(outline)


def summary(rates: xr.Dataset) -> str:
    """``"<first window> – <end of last> (n windows): N dust hits, T h of acquisition"``."""
    start = np.datetime_as_string(rates["epoch"].values[0], unit="D")
    end_ns = rates["epoch"].values[-1] + np.timedelta64(int(rates["epoch_delta_plus"].values[-1]), "ns")
    end = np.datetime_as_string(end_ns, unit="D")
    hits = int(rates["counts_total"].sum()) if "counts_total" in rates else int(rates["counts_map"].sum())
    hours = float(rates["on_seconds"].sum()) / 3600.0 if "on_seconds" in rates else float("nan")
    windows = rates.sizes["epoch"]
    return f"{start} – {end} ({windows} window{'s' * (windows != 1)}): {hits} dust hits, {hours:.1f} h of acquisition"


def render_rate_map(
    rates: xr.Dataset, path: PathLike, *, quantity: str = "rate", projection: str = "mollweide"
) -> None:
    """The 6° ECLIPJ2000 map summed over the windows: ``counts`` or ``rate`` (counts / total acquisition seconds).

    ``projection`` is ``"mollweide"`` (longitude drawn −180…180°) or ``"rectangular"`` (0…360°).
    """
    if quantity not in ("counts", "rate"):
        raise InputError(f"quantity {quantity!r}: 'counts' or 'rate'")
    if projection not in ("mollweide", "rectangular"):
        raise InputError(f"projection {projection!r}: 'mollweide' or 'rectangular'")
    counts = rates["counts_map"].sum("epoch").values.T  # (lat, lon)
    seconds = float(rates["on_seconds"].sum()) if "on_seconds" in rates else 0.0
    if quantity == "rate":
        values = counts / seconds if seconds > 0 else np.full(counts.shape, np.nan)
        label = "dust hits per second of acquisition [s$^{-1}$]"
    else:
        values, label = counts.astype(float), "dust hits"
    lon = rates["rectangular_lon_pixel"].values
    lat_edges = np.radians(np.linspace(-90.0, 90.0, counts.shape[0] + 1))
    step = 360.0 / lon.size
    plt = _pyplot()
    fig = plt.figure(figsize=(11, 6))
    if projection == "mollweide":
        ax = fig.add_subplot(111, projection="mollweide")
        shift = lon.size // 2  # 180..360 drawn as -180..0
        mesh = ax.pcolormesh(
            np.radians(np.linspace(-180.0, 180.0, lon.size + 1)),
            lat_edges,
            np.roll(values, -shift, axis=1),
            cmap="viridis",
            shading="flat",
        )
        ax.set_xlabel("ECLIPJ2000 longitude [deg], -180…180 (180…360 drawn as -180…0)")
    else:
        ax = fig.add_subplot(111)
        mesh = ax.pcolormesh(
            np.arange(lon.size + 1) * step, np.degrees(lat_edges), values, cmap="viridis", shading="flat"
        )
        ax.set_xlabel("ECLIPJ2000 longitude [deg]")
        ax.set_xlim(0, 360)
    ax.set_ylabel("ECLIPJ2000 latitude [deg]")
    ax.grid(alpha=0.4)
    if projection == "mollweide":  # its longitude labels sit on the map
        readable_labels(ax)
    fig.colorbar(mesh, ax=ax, orientation="horizontal", pad=0.1, fraction=0.05, label=label)
    ax.set_title(f"IDEX dust {quantity} map — {summary(rates)}", pad=14, fontsize=10)
    save_figure(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def render_spin_phase(rates: xr.Dataset, path: PathLike) -> None:
    """Polar bars of the rate per spin-phase quadrant over all windows, with Garwood 1σ intervals; the rate per
    second spent in each quadrant (exposure per quadrant) as points. Without acquisition time: counts, said so."""
    from idex.science.rates import poisson_interval

    counts = rates["counts"].sum("epoch").values.astype(float)
    seconds = float(rates["on_seconds"].sum())
    scale = 1.0 / seconds if seconds > 0 else 1.0  # no acquisition time: counts, not rates
    low, high = poisson_interval(counts)
    centres = np.radians(rates["spin_phase"].values.astype(float))
    plt = _pyplot()
    fig = plt.figure(figsize=(6.5, 6.5))
    ax = fig.add_subplot(111, projection="polar")
    what = "rate = counts / acquisition s" if seconds > 0 else "counts (no acquisition time: no rate)"
    ax.bar(centres, counts * scale, width=np.radians(90.0) * 0.95, alpha=0.6, label=what)
    ax.errorbar(
        centres,
        counts * scale,
        yerr=[(counts - low) * scale, (high - counts) * scale],
        fmt="none",
        ecolor="black",
        capsize=4,
        label="Garwood 1σ",
    )
    quadrant_seconds = rates["on_seconds_by_spin_phase"].sum("epoch").values
    if seconds > 0 and (quadrant_seconds > 0).all():
        ax.plot(
            centres,
            counts / quadrant_seconds,
            "o",
            color="crimson",
            label="counts / s spent in the quadrant (4 × the above for a uniform spin)",
        )
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_title(f"IDEX {'rate' if seconds > 0 else 'counts'} by spin phase\n{summary(rates)}", fontsize=9)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.2), fontsize=8)
    save_figure(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def render_orbit(rates: xr.Dataset, path: PathLike) -> None:
    """Dust hits and rate per window against IMAP's heliocentric ecliptic longitude (top) and date (bottom)."""
    from idex.science.rates import poisson_interval

    counts = rates["counts_total"].values.astype(float)
    rate = rates["rate_total"].values
    low, high = poisson_interval(counts)
    seconds = rates["on_seconds"].values
    with np.errstate(all="ignore"):
        errors = [rate - low / seconds, high / seconds - rate]
    middle = rates["epoch"].values + (rates["epoch_delta_plus"].values // 2).astype("timedelta64[ns]")
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    longitude = rates["imap_longitude"].values if "imap_longitude" in rates else np.full(counts.size, np.nan)
    top.errorbar(longitude % 360.0, rate, yerr=errors, fmt="o", capsize=3)
    top.set_xlabel("IMAP heliocentric ecliptic longitude [deg] (mean over each window's dust hits)")
    top.set_ylabel("dust rate [s$^{-1}$]")
    top.set_xlim(0, 360)
    bottom.bar(
        middle,
        counts,
        width=rates["epoch_delta_plus"].values.astype("timedelta64[ns]") * 0.9,
        alpha=0.5,
        label="dust hits",
    )
    twin = bottom.twinx()
    twin.errorbar(middle, rate, yerr=errors, fmt="o", color="crimson", capsize=3, label="rate")
    bottom.set_ylabel("dust hits per window")
    twin.set_ylabel("dust rate [s$^{-1}$]", color="crimson")
    bottom.set_xlabel("window (UTC)")
    fig.suptitle(f"IDEX dust vs orbit position — {summary(rates)}", fontsize=10)
    for label in bottom.get_xticklabels():
        label.set_rotation(30)
    save_figure(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)
