"""Sky maps of dust arrival directions drawn on a Mollweide projection (the counts themselves:
:mod:`idex.science.sky_maps`, whose names this module also offers where earlier code imported them)."""

from __future__ import annotations

import numpy as np

from idex._typing import PathLike
from idex.apps.rate_plots import readable_labels
from idex.atomic import save_figure
from idex.science.sky_maps import SkyMap, sky_map, synthetic

__all__ = ["SkyMap", "render", "sky_map", "synthetic"]

FRAME = "ECLIPJ2000"
"""Frame of the official L1b ``longitude``/``latitude`` (ecliptic, J2000), as their CATDESC says."""
_DRAW_SUBDIVISIONS = 4


def render(skymap: SkyMap, path: PathLike, *, title: str = "", frame: str = FRAME) -> None:
    """Draw ``skymap`` on a Mollweide projection (longitude −180…180° in ``frame``) with a colour bar and save it.

    Cells are drawn subdivided four times in longitude and latitude, so the map's curved outline has no
    notches at the poles; axis labels name the frame and the plotted longitude convention.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 6))
    ax = fig.add_subplot(111, projection="mollweide")
    shift = np.searchsorted(skymap.lon_edges, 180.0)  # draw 180..360 as -180..0
    values = np.repeat(
        np.repeat(np.roll(skymap.values, -shift, axis=1), _DRAW_SUBDIVISIONS, axis=1), _DRAW_SUBDIVISIONS, axis=0
    )
    lon = np.radians(np.linspace(-180, 180, values.shape[1] + 1))
    edges = skymap.lat_edges
    fractions = np.arange(_DRAW_SUBDIVISIONS) / _DRAW_SUBDIVISIONS
    lat = np.r_[(edges[:-1, None] + np.diff(edges)[:, None] * fractions).ravel(), edges[-1]]
    mesh = ax.pcolormesh(lon, np.radians(lat), values, cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, orientation="horizontal", pad=0.08, fraction=0.05, label=skymap.quantity)
    ax.grid(alpha=0.4)
    readable_labels(ax)  # the longitude labels sit on the map: white with a dark outline reads on every colour
    ax.set_xlabel(f"{frame} longitude [deg], -180…180 (180…360 drawn as -180…0)")
    ax.set_ylabel(f"{frame} latitude [deg]")
    ax.set_title(title or f"{skymap.values.sum():.0f} events", pad=14)
    save_figure(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plotted_longitude(longitude: float) -> float:
    """Longitude in the map's −180…180° convention.

    Examples
    --------
    >>> plotted_longitude(257.5)
    -102.5
    """
    return float((longitude + 180.0) % 360.0 - 180.0)
