"""SNR study across many files: per-event table and the study plots (vs time, vs impact charge, histograms)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from idex._typing import PathLike
from idex.apps.table import without_duplicates
from idex.atomic import save_figure
from idex.model.dataset import waveform_channels
from idex.model.quality import FitStatus
from idex.science.calibration_report import readable_log_ticks
from idex.science.tof_charge import settings as tof_charge_settings

__all__ = ["PLOTS", "snr_plots", "snr_table"]

TOF_CHANNELS = tuple(tof_charge_settings()["channels"])
"""The TOF gains, highest first (``defs/tof_charge.yaml``)."""
PLOTS = ("snr_vs_time.png", "snr_vs_charge.png", "snr_histograms.png")
"""The figures :func:`snr_plots` writes."""


def snr_table(
    datasets: Iterable[tuple[str, xr.Dataset]],
    *,
    fit: bool = True,
    keep_duplicates: bool = False,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One row per event: source file, event, epoch, SNR of each TOF channel and (fitted) impact charges.

    A charge is given only where its fit converged (NaN elsewhere); ``<channel>_fit_status`` names each fit's
    outcome (:class:`idex.model.quality.FitStatus`).

    An event found in several files (the same impact time within :data:`idex.io.products.SAME_EVENT`) keeps the row
    of the first file unless ``keep_duplicates``; ``attrs["duplicates_dropped"]`` counts the rows dropped.
    ``progress``, when given, is called with the number of events of each dataset when it is done.
    """
    frames = []
    for source, ds in datasets:
        row = {"source_file": source, "event": ds["event"].values, "epoch": ds["epoch"].values}
        for channel in tof_channels(ds):
            row[f"{channel}_snr"] = ds.idex.snr(channel).values
        if fit:
            fits = ds.idex.fit()
            for name in fits.data_vars:
                if str(name).endswith("_impact_charge"):
                    channel = str(name).removesuffix("_impact_charge")
                    row[name] = np.where(fits[f"{channel}_fit_success"].values, fits[name].values, np.nan)
                    codes = fits[f"{channel}_fit_status"].values
                    row[f"{channel}_fit_status"] = [FitStatus(int(code)).name.lower() for code in codes]
        frames.append(pd.DataFrame(row))
        if progress is not None:
            progress(ds.sizes["event"])
    if not frames:
        return pd.DataFrame()
    return without_duplicates(pd.concat(frames, ignore_index=True), keep=keep_duplicates)


def tof_channels(ds: xr.Dataset) -> list[str]:
    """The TOF channels of ``ds``: telemetry's three gains, or an accelerator setup's ``tof*`` channels."""
    present = [c for c in TOF_CHANNELS if c in ds]
    return present or [str(n) for n in waveform_channels(ds) if str(n).startswith("tof")]


def snr_plots(table: pd.DataFrame, folder: PathLike) -> list[Path]:
    """Write ``snr_vs_time.png``, ``snr_vs_charge.png`` and ``snr_histograms.png`` into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    channels = [str(c)[: -len("_snr")] for c in table.columns if str(c).endswith("_snr")]
    fig, ax = plt.subplots(figsize=(10, 5), constrained_layout=True)
    for channel in channels:
        ax.semilogy(pd.to_datetime(table["epoch"]), table[f"{channel}_snr"], "o", ms=4, label=channel)
    ax.set(xlabel="UTC", ylabel="SNR", title=f"TOF SNR of {len(table)} events")
    if channels:
        ax.legend()
        readable_log_ticks(ax)
    written.append(save_figure(fig, folder / PLOTS[0], dpi=90))
    plt.close(fig)
    charges = [c for c in table.columns if c.endswith("_impact_charge")]
    fig, axes = plt.subplots(
        1, max(1, len(charges)), figsize=(5 * max(1, len(charges)), 4.5), constrained_layout=True, squeeze=False
    )
    for ax, column in zip(axes[0], charges if channels else [], strict=False):
        ax.loglog(np.abs(table[column]), table[f"{channels[0]}_snr"], "o", ms=4)
        ax.set(xlabel=f"{column.replace('_', ' ')} [pC]", ylabel=f"{channels[0]} SNR")
        readable_log_ticks(ax)
    if not charges:
        axes[0, 0].text(0.5, 0.5, "no impact charges (run with fits)", ha="center", transform=axes[0, 0].transAxes)
    written.append(save_figure(fig, folder / PLOTS[1], dpi=90))
    plt.close(fig)
    fig, axes = plt.subplots(1, max(1, len(channels)), figsize=(14, 4), constrained_layout=True, squeeze=False)
    for ax, channel in zip(axes[0], channels, strict=False):
        values = table[f"{channel}_snr"].to_numpy(dtype=float)
        values = values[np.isfinite(values) & (values > 0)]
        bins = _log_edges(values) if values.size > 1 else 10
        ax.hist(values, bins=bins, color="tab:blue", edgecolor="black")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of events
        if values.size > 1:
            ax.set_xscale("log")
            readable_log_ticks(ax)
        ax.set(
            xlabel=f"{channel} SNR",
            ylabel="events",
            title=f"{channel}: median {np.median(values):.1f}" if values.size else channel,
        )
    written.append(save_figure(fig, folder / PLOTS[2], dpi=90))
    plt.close(fig)
    return written


def _log_edges(values: np.ndarray, n_bins: int = 19) -> np.ndarray:
    """Logarithmic histogram edges holding every one of ``values`` (positive; the edges are computed through
    logarithms, whose round-off can leave the largest value just outside the last edge: both ends are the data's
    own extremes).

    Examples
    --------
    >>> values = np.array([1.3, 2.0, 97.1])
    >>> edges = _log_edges(values)
    >>> bool(edges[0] == values.min() and edges[-1] == values.max())
    True
    """
    edges = np.logspace(np.log10(values.min()), np.log10(values.max()), n_bins + 1)
    edges[0], edges[-1] = values.min(), values.max()
    return edges
