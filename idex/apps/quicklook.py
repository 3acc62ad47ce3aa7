"""Quicklook figures: one page per event (six channels in physical units) and a summary per capture.

Matplotlib with the headless ``Agg`` backend; nothing here blocks or needs a display.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.atomic import atomic_path, save_figure
from idex.model.calibration import calibrated, schema_of
from idex.model.dataset import waveform_channels
from idex.model.quality import FitStatus, QualityFlag

__all__ = ["event_figure", "summary_figure", "write_quicklooks"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _trigger_origin(trigger: xr.DataArray) -> str:
    """Names of the set bits of the trigger id, from its CF ``flag_masks``/``flag_meanings`` attributes."""
    masks, meanings = trigger.attrs.get("flag_masks"), str(trigger.attrs.get("flag_meanings", "")).split()
    if masks is None:
        return str(int(trigger))
    active = [name for mask, name in zip(np.atleast_1d(masks), meanings, strict=False) if int(trigger) & int(mask)]
    return ", ".join(name.replace("_", " ") for name in active) or "unknown"


def event_figure(ds: xr.Dataset, event: int):
    """Figure of one event: six channels on their own time axes relative to the trigger, baseline subtracted.

    Each panel shows the signal above its pre-trigger median; a missing channel says so; a fit curve
    is drawn only for a successful fit, otherwise its status is written; the title names the flags.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model, optionally with fit outputs merged (``<channel>_fit_curve`` is drawn when present).
    event : int
        Event number (``event`` coordinate).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    ds = ds.sel(event=[event])  # this event's rows only: clocks and units of every event would be built otherwise
    physical = calibrated(ds)
    row = ds.sel(event=event)
    columns: dict[str, list[str]] = {}  # one column per sampling rate (sample dimension), schema order
    for name in waveform_channels(ds):
        columns.setdefault(str(ds[name].dims[-1]), []).append(name)
    rows = max(len(names) for names in columns.values())
    fig, axes = plt.subplots(
        rows, len(columns), figsize=(6.5 * len(columns), 3 * rows), sharex="col", constrained_layout=True, squeeze=False
    )
    for column, channels in enumerate(columns.values()):
        for ax in axes[len(channels) :, column]:
            ax.set_visible(False)
        for line, name in enumerate(channels):
            ax = axes[line, column]
            time = ds.idex.time(name).sel(event=event)
            values = physical[name].sel(event=event)
            units = values.attrs.get("units", "DN")
            ax.set_ylabel(f"{name.replace('_', ' ')} − baseline [{units}]")
            if not np.isfinite(values.values).any():  # no packet of this channel: say so, draw no empty axis
                ax.text(
                    0.5,
                    0.5,
                    f"{name.replace('_', ' ')}: missing (no packets)",
                    ha="center",
                    va="center",
                    color="tab:red",
                    transform=ax.transAxes,
                )
                ax.set_yticks([])
                continue
            before = values.values[(time.values < 0) & np.isfinite(values.values)]
            baseline = float(np.median(before)) if before.size else float(np.nanmedian(values.values))
            ax.plot(time, values - baseline, lw=0.6, color="black")
            curve = f"{name}_fit_curve"
            if curve in ds and bool(ds[f"{name}_fit_success"].sel(event=event)):
                ax.plot(time, ds[curve].sel(event=event) - baseline, color="tab:red", lw=1.2, label="impact fit")
                charge = float(ds[f"{name}_impact_charge"].sel(event=event))
                ax.legend(
                    loc="upper right",
                    fontsize=8,
                    title=f"{charge:.3g} {values.attrs.get('units', '')}, {_evidence(ds, name, event)}",
                )
            elif f"{name}_fit_status" in ds:  # no curve through a fit that did not earn it: say why instead
                ax.text(
                    0.99,
                    0.95,
                    _not_fitted(ds, name, event),
                    ha="right",
                    va="top",
                    fontsize=8,
                    color="tab:gray",
                    transform=ax.transAxes,
                )
            ax.axvline(0.0, color="tab:blue", ls="--", lw=0.8, zorder=0)  # behind: a spike at t = 0 shows
            ax.grid(alpha=0.3)
        axes[len(channels) - 1, column].set_xlabel("time from trigger [µs]")
    epoch = np.datetime_as_string(row["epoch"].values, unit="ms")
    details = [f"event {event}", f"{epoch} UTC"]
    if "trigger_id" in row:  # telemetry; accelerator shots have the scope's trigger only
        details.append(f"trigger: {_trigger_origin(row['trigger_id'])}")
    if "dust_hit_flag" in row:
        details.append(_classification(row))
    for name, label in (
        ("detector_voltage", "detector"),
        ("target_voltage", "target"),
        ("reflectron_voltage", "reflectron"),
    ):
        if name in row:
            details.append(f"{label} {float(row[name]):.0f} V")
    if int(row["quality_flags"]):
        details.append(f"flags: {', '.join(QualityFlag.names_of(int(row['quality_flags'])))}")
    fig.suptitle(_wrapped(details, fig.get_figwidth(), fontsize=11), fontsize=11)
    return fig


def _wrapped(parts: list[str], width_inches: float, fontsize: float) -> str:
    """``parts`` joined by `` · `` into as many lines as the figure's width holds (none is cut off)."""
    budget = max(int(width_inches * 72 / (0.62 * fontsize)), 20)  # characters per line at this font size
    lines = [""]
    for part in filter(None, parts):
        for piece in textwrap.wrap(part, budget):
            candidate = f"{lines[-1]}   ·   {piece}" if lines[-1] else piece
            if len(candidate) <= budget:
                lines[-1] = candidate
            else:
                lines.append(piece)
    return "\n".join(lines)


def _evidence(ds: xr.Dataset, name: str, event: int) -> str:
    """``significance 16.8`` of the channel's fit (the evidence for a pulse, :mod:`idex.fit.detection`)."""
    if f"{name}_fit_significance" not in ds:
        return ""
    return f"significance {float(ds[f'{name}_fit_significance'].sel(event=event)):.1f}"


def _not_fitted(ds: xr.Dataset, name: str, event: int) -> str:
    """Why a channel has no fit curve: its status, and for ``no_signal`` the evidence against the threshold."""
    status = FitStatus(int(ds[f"{name}_fit_status"].sel(event=event)))
    text = f"fit: {status.name.lower().replace('_', ' ')}"
    evidence = _evidence(ds, name, event)
    cut = ds[f"{name}_fit_significance"].attrs.get("detection_threshold") if evidence else None
    if status == FitStatus.NO_SIGNAL and cut is not None:
        evidence += f" < {float(cut):.1f}"
    return f"{text} ({evidence})" if evidence else text


def _classification(row: xr.Dataset) -> str:
    """``dust`` / ``science, not dust`` / ``noise`` / ``pulser``, and the saturated channels."""
    if int(row["dust_hit_flag"]) == 1:
        kind = "dust"
    elif int(row["noise_capture_flag"]) == 1:
        kind = "noise capture"
    elif int(row["pulser_flag"]) == 1:
        kind = "pulser"
    else:
        kind = "science, not dust" if int(row["science_event_flag"]) == 1 else "unclassified"
    saturated = [
        str(name).removesuffix("_saturation_flag").replace("_", " ")
        for name in row.data_vars
        if str(name).endswith("_saturation_flag") and int(row[name]) == 1
    ]
    return kind + (f" (saturated: {', '.join(saturated)})" if saturated else "")


def classification_counts(ds: xr.Dataset) -> dict[str, int]:
    """Events per class (dust, science not dust, noise capture, pulser) and saturated events, of one capture."""
    if "dust_hit_flag" not in ds:
        return {}
    flag = {
        name: ds[name].values for name in ("dust_hit_flag", "science_event_flag", "noise_capture_flag", "pulser_flag")
    }
    saturated = np.zeros(ds.sizes["event"], bool)
    for name in ds.data_vars:
        if str(name).endswith("_saturation_flag"):
            saturated |= ds[name].values == 1
    return {
        "dust": int((flag["dust_hit_flag"] == 1).sum()),
        "science, not dust": int(((flag["science_event_flag"] == 1) & (flag["dust_hit_flag"] != 1)).sum()),
        "noise capture": int((flag["noise_capture_flag"] == 1).sum()),
        "pulser": int((flag["pulser_flag"] == 1).sum()),
        "saturated": int(saturated.sum()),
    }


def summary_figure(ds: xr.Dataset, source: str = ""):
    """Capture overview: event times (dust hits marked), impact charges (if fitted), housekeeping over time, and
    the classification counts in the title."""
    plt = _pyplot()
    charges = [str(name) for name in ds.data_vars if str(name).endswith("_impact_charge")]
    panels = 3 if charges else 2  # without fits, no empty charge panel
    fig, axes = plt.subplots(panels, 1, figsize=(11, 3 * panels), sharex=True, constrained_layout=True)
    epoch = ds["epoch"].values
    axes[0].plot(epoch, np.arange(epoch.size) + 1, drawstyle="steps-post", color="black")
    axes[0].set_ylabel("cumulative events")
    for name in charges:  # only the charges of converged fits: a status means what it says
        channel = name.removesuffix("_impact_charge")
        earned = ds[f"{channel}_fit_success"].values if f"{channel}_fit_success" in ds else np.isfinite(ds[name].values)
        axes[1].semilogy(
            epoch[earned],
            np.abs(ds[name].values[earned]),
            "o",
            ms=4,
            label=f"{channel.replace('_', ' ')} ({int(earned.sum())} converged)",
        )
    if charges:
        axes[1].legend(fontsize=8)
        axes[1].set_ylabel("impact charge [pC]")
    housekeeping = schema_of(ds).housekeeping if "idex_schema" in ds.attrs else ()  # accelerator shots: none
    high_voltage = [
        item.name
        for item in housekeeping
        if item.word.startswith("hvps") and item.attrs.get("units") == "V" and item.name in ds
    ]
    for name in high_voltage:
        axes[-1].plot(epoch, ds[name].values, ".-", lw=0.8, label=name.replace("_", " "))
    if high_voltage:
        axes[-1].legend(fontsize=8, ncol=3)
        axes[-1].set_ylabel("high-voltage supplies [V]")
    else:
        axes[-1].text(
            0.5,
            0.5,
            "no converted housekeeping in this packet version",
            ha="center",
            va="center",
            transform=axes[-1].transAxes,
        )
    axes[-1].set_xlabel("UTC")
    rate = epoch.size / max((epoch.max() - epoch.min()) / np.timedelta64(1, "h"), 1e-9) if epoch.size > 1 else 0
    counts = classification_counts(ds)
    classes = ", ".join(f"{n} {name}" for name, n in counts.items())
    fig.suptitle(
        _wrapped([f"{source}: {epoch.size} events, {rate:.1f} events/hour", classes], fig.get_figwidth(), fontsize=12),
        fontsize=12,
    )
    if "dust_hit_flag" in ds:  # the dust hits stand out on the event-time panel
        dust = ds["dust_hit_flag"].values == 1
        axes[0].plot(epoch[dust], (np.arange(epoch.size) + 1)[dust], "o", color="tab:red", ms=4, label="dust hit")
        axes[0].legend(fontsize=8)
    return fig


def write_quicklooks(
    ds: xr.Dataset,
    folder: PathLike,
    *,
    stem: str,
    pdf: bool = False,
    events: Iterable[int] | None = None,
    progress=None,
) -> list[Path]:
    """Write ``<stem>_event_<N>.png`` per event (or one ``<stem>_events.pdf``) and ``<stem>_summary.png``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    numbers = list(events) if events is not None else [int(n) for n in ds["event"].values]
    written = []
    with contextlib.ExitStack() as stack:
        pages = None
        if pdf:
            from matplotlib.backends.backend_pdf import PdfPages

            written.append(folder / f"{stem}_events.pdf")
            pages = stack.enter_context(PdfPages(stack.enter_context(atomic_path(written[-1], overwrite=True))))
        for number in numbers:
            fig = event_figure(ds, number)
            if pages is not None:
                pages.savefig(fig)
            else:
                written.append(save_figure(fig, folder / f"{stem}_event_{number:05d}.png", dpi=90))
            plt.close(fig)
            if progress is not None:
                progress.update(1)
    fig = summary_figure(ds, stem)
    written.append(save_figure(fig, folder / f"{stem}_summary.png", dpi=90))
    plt.close(fig)
    return written
