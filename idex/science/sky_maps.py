"""Sky maps of dust arrival directions as numbers: equal-area counts (or rates, given an exposure), and a synthetic
interstellar-dust-flow-like event generator for demos and tests.

Longitude/latitude are ecliptic degrees of the per-event ``longitude``/``latitude`` variables (from
the official L1b products). Bins are equal in area: uniform in longitude and in sin(latitude). Drawing them is
``idex.apps.maps.render``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

__all__ = ["SkyMap", "sky_map", "synthetic"]


@dataclass(frozen=True)
class SkyMap:
    """Counts (or rates, after exposure normalisation) on equal-area bins."""

    values: np.ndarray  # (latitude bin, longitude bin)
    lon_edges: np.ndarray
    lat_edges: np.ndarray
    quantity: str

    @property
    def peak(self) -> tuple[float, float]:
        """Longitude and latitude (degrees) of the centre of the largest bin."""
        row, column = np.unravel_index(np.nanargmax(self.values), self.values.shape)
        lon = 0.5 * (self.lon_edges[column] + self.lon_edges[column + 1])
        lat = np.degrees(
            np.arcsin(0.5 * (np.sin(np.radians(self.lat_edges[row])) + np.sin(np.radians(self.lat_edges[row + 1]))))
        )
        return float(lon), float(lat)


def _unit_vectors(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def synthetic(
    n: int = 5000,
    *,
    upstream: tuple[float, float] = (259.0, 8.0),
    width_deg: float = 15.0,
    background: float = 0.3,
    seed: int = 0,
    start: str = "2026-01-01",
) -> xr.Dataset:
    """Events from an interstellar-dust-flow-like distribution: a Gaussian around ``upstream`` on an
    isotropic background.

    Parameters
    ----------
    n : int
        Number of events.
    upstream : tuple of float
        Flow direction (ecliptic longitude, latitude), degrees.
    width_deg : float
        Angular standard deviation of the flow around ``upstream``.
    background : float
        Fraction of events drawn isotropically.
    seed : int
        Random seed.
    start : str
        Epoch of the first event (one event per minute).

    Returns
    -------
    xarray.Dataset
        ``longitude`` (0..360) and ``latitude`` on the ``event`` axis, with ``epoch``.
    """
    rng = np.random.default_rng(seed)
    isotropic = rng.random(n) < background
    vectors = rng.normal(size=(n, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    axis = _unit_vectors(np.array(upstream[0]), np.array(upstream[1]))
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = np.cross(helper, axis)
    east /= np.linalg.norm(east)
    north = np.cross(axis, east)
    offsets = np.radians(width_deg) * rng.normal(size=(n, 2))
    angle = np.linalg.norm(offsets, axis=1)
    direction = (offsets[:, :1] * east + offsets[:, 1:] * north) / np.maximum(angle, 1e-12)[:, None]
    flow = np.cos(angle)[:, None] * axis + np.sin(angle)[:, None] * direction
    vectors = np.where(isotropic[:, None], vectors, flow)
    lon = np.degrees(np.arctan2(vectors[:, 1], vectors[:, 0])) % 360
    lat = np.degrees(np.arcsin(np.clip(vectors[:, 2], -1, 1)))
    epoch = np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(60, "s")
    return xr.Dataset(
        {
            "longitude": ("event", lon, {"long_name": "Ecliptic longitude of arrival", "units": "deg"}),
            "latitude": ("event", lat, {"long_name": "Ecliptic latitude of arrival", "units": "deg"}),
        },
        coords={"event": np.arange(1, n + 1), "epoch": ("event", epoch)},
        attrs={"title": "synthetic interstellar-dust-like events", "upstream": list(upstream)},
    )


def sky_map(
    longitude: np.ndarray,
    latitude: np.ndarray,
    *,
    n_lon: int = 72,
    n_lat: int = 36,
    smooth_bins: float = 0.0,
    exposure: np.ndarray | None = None,
) -> SkyMap:
    """Count events on equal-area bins; optionally smooth (total conserved) and divide by exposure.

    Parameters
    ----------
    longitude, latitude : numpy.ndarray
        Degrees; NaN events are ignored.
    n_lon, n_lat : int
        Bins in longitude (uniform) and latitude (uniform in sin(latitude)).
    smooth_bins : float
        Gaussian smoothing width in bins (wrapping in longitude); the total is kept.
    exposure : numpy.ndarray, optional
        ``(n_lat, n_lon)`` exposure (e.g. s·cm²); the map becomes a rate, 0 where exposure is 0.

    Returns
    -------
    SkyMap
    """
    lon = np.asarray(longitude, dtype=float) % 360
    lat = np.asarray(latitude, dtype=float)
    keep = np.isfinite(lon) & np.isfinite(lat)
    lon_edges = np.linspace(0.0, 360.0, n_lon + 1)
    lat_edges = np.degrees(np.arcsin(np.linspace(-1.0, 1.0, n_lat + 1)))
    counts, _, _ = np.histogram2d(lat[keep], lon[keep], bins=(lat_edges, lon_edges))
    if smooth_bins > 0:
        total = counts.sum()
        counts = gaussian_filter(counts, smooth_bins, mode=("nearest", "wrap"))
        counts *= total / counts.sum() if counts.sum() else 1.0
    if exposure is None:
        return SkyMap(counts, lon_edges, lat_edges, "counts")
    exposure = np.asarray(exposure, dtype=float)
    if exposure.shape != counts.shape:
        raise ValueError(f"exposure has shape {exposure.shape}, the map {counts.shape}")
    with np.errstate(all="ignore"):
        rate = np.where(exposure > 0, counts / exposure, 0.0)
    return SkyMap(rate, lon_edges, lat_edges, "counts per unit exposure")
