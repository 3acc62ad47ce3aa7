"""A whole campaign folder in one call: traces to shots, fits, accelerator join, file and figures."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.atomic import save_figure
from idex.exceptions import PacketWarning
from idex.model.dataset import waveform_channels
from idex.model.quality import FitStatus
from idex.model.timing import time_from_trigger
from idex.scope.accelerator import join_accelerator
from idex.scope.fits import fit_shots
from idex.scope.setups import load_setup
from idex.scope.shots import open_trc

__all__ = ["process_campaign"]


log = logging.getLogger(__name__)


def process_campaign(
    folder: PathLike,
    output: PathLike,
    *,
    setup: str | PathLike = "idex_dust_accelerator",
    url: str | None = None,
    quicklook: bool = True,
    force: bool = False,
) -> bool:
    """Read, fit and join one campaign folder; write ``shots.nc``, ``shots.csv`` and per-shot figures.

    Returns
    -------
    bool
        False when the products are newer than every trace and ``force`` is False (nothing done).
    """
    from idex.io import to_csv, to_netcdf

    folder, output = Path(folder), Path(output)
    traces = sorted(folder.glob("*.trc"))
    product = output / "shots.nc"
    if not force and product.exists() and all(t.stat().st_mtime_ns <= product.stat().st_mtime_ns for t in traces):
        return False
    output.mkdir(parents=True, exist_ok=True)
    loaded = load_setup(setup)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PacketWarning)
        ds = fit_shots(open_trc(folder, setup=loaded), loaded)
        if loaded.database is not None:
            ds = join_accelerator(ds, url, loaded)
    for warning in caught:
        log.warning("%s: %s", folder.name, warning.message)
    ds.attrs["problems"] = "; ".join(str(w.message) for w in caught)
    to_netcdf(ds, product, overwrite=True)
    to_csv(ds, output / "shots.csv", overwrite=True)
    if quicklook:
        _shot_figures(ds, output)
    return True


def _shot_figures(ds: xr.Dataset, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    channels = waveform_channels(ds)
    for number in ds["event"].values:
        fig, axes = plt.subplots(len(channels), 1, figsize=(10, 2.4 * len(channels)), constrained_layout=True)
        for ax, name in zip(np.atleast_1d(axes), channels, strict=True):
            time = time_from_trigger(ds, name).sel(event=number)
            values = ds[name].sel(event=number) * ds[name].attrs["calibration_factor"]
            ax.plot(time, values, color="black", lw=0.6)
            if f"{name}_fit_curve" in ds:
                ax.plot(time, ds[f"{name}_fit_curve"].sel(event=number), color="tab:red", lw=1)
            ax.set_ylabel(f"{name} [{ds[name].attrs['calibration_units']}]")
        np.atleast_1d(axes)[-1].set_xlabel("time from trigger [µs]")
        row = ds.sel(event=number)
        title = f"shot {row['shot'].values}"
        if "particle_velocity" in ds and bool(row["qd_fit_success"]):
            title += f"  v = {float(row['particle_velocity']):.3g} km/s, m = {float(row['particle_mass']):.3g} kg"
        elif "qd_fit_status" in ds:  # no number the fit does not support: say why instead
            title += f"  QD fit: {FitStatus(int(row['qd_fit_status'])).name.lower().replace('_', ' ')}, no v or m"
        fig.suptitle(title)
        save_figure(fig, folder / f"shot_{row['shot'].values}.png", dpi=80)
        plt.close(fig)
