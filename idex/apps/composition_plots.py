"""Composition products: the per-event table, the annotated mass spectrum, the Mg-Si-Fe ternary, the noise figure.

Matplotlib with the headless ``Agg`` backend. The ternary's reference compositions (minerals, CI chondrite) are
data in ``defs/ternary_references.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from idex._typing import PathLike
from idex.atomic import save_figure
from idex.resources import data_dir

__all__ = ["composition_table", "noise_figure", "spectrum_figure", "ternary_figure", "write_composition_plots"]

TERNARY = ("Mg", "Si", "Fe")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def composition_table(result: xr.Dataset, source: str = "") -> pd.DataFrame:
    """One row per event: status, mass scale and flags, per element abundance ± error, detection and upper limit,
    the ratios of :data:`idex.science.composition.RATIOS` ± error, and the RSF status."""
    table = pd.DataFrame(
        {
            "source_file": source,
            "event": result["event"].values,
            "epoch": result["epoch"].values,
            "composition_status": result["composition_status"].values,
            "mass_stretch": result["mass_stretch"].values,
            "quality_flags": result["quality_flags"].values,
        }
    )
    for element in result["element"].values:
        one = result.sel(element=element)
        for name in ("abundance", "abundance_stderr", "upper_limit", "significance"):
            table[f"{element}_{name}"] = one[name].values
        table[f"{element}_detected"] = one["detected"].values
    for variable in result.data_vars:
        if str(variable).startswith("ratio_"):
            table[str(variable)] = result[variable].values
    table["rsf_status"] = result["abundance"].attrs.get("rsf_status", "")
    return table


def spectrum_figure(result: xr.Dataset, event: int):
    """The combined TOF spectrum of one event on its mass axis (symmetric-log scale), detected lines labelled once
    per place: ``Mg-24*`` marks a line the instrument cannot tell from another ion (``species_ambiguous_with``)."""
    plt = _pyplot()
    row = result.isel(event=event)
    figure, axis = plt.subplots(figsize=(11, 4.5))
    mass, signal = row["mass"].values, row["tof_combined"].values
    detected = row["line_detected"].values
    masses = row["species_mass"].values
    upper = max(30.0, float(np.max(masses[detected], initial=0.0)) + 8)
    keep = np.isfinite(mass) & (mass > 0.5) & (mass < upper)
    axis.plot(mass[keep], signal[keep], lw=0.7, color="k")
    noise = float(np.nanmin(row["tof_combined_noise"].values))
    axis.set_yscale("symlog", linthresh=max(5 * noise, 1e-12))
    placed: list[float] = []
    for label, m, ambiguous in zip(
        row["species"].values[detected], masses[detected], row["species_ambiguous_with"].values[detected], strict=True
    ):
        if any(abs(m - other) < 0.05 for other in placed):
            continue  # one label per place: the line list puts the atom first
        placed.append(float(m))
        height = np.nanmax(signal[keep & (np.abs(mass - m) < 0.3)], initial=0.0)
        axis.annotate(
            label + ("*" if ambiguous else ""),
            (m, height),
            xytext=(0, 4),
            textcoords="offset points",
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=7,
            color="tab:red" if ambiguous else "tab:blue",
        )
    top = np.nanmax(signal[keep]) if keep.any() else 1.0
    axis.set_ylim(top=8 * top)
    axis.set_xlim(0, upper)
    axis.set_xlabel("mass (u)")
    axis.set_ylabel(f"TOF, gains joined ({row['tof_combined'].attrs.get('units', '')})")
    flags = int(row["quality_flags"].values)
    axis.set_title(
        f"event {int(row['event'].values)}: {len(placed)} lines detected (* cannot be told from another "
        f"ion), stretch {float(row['mass_stretch'].values):.4f} us/sqrt(u)"
        + (f", quality flags {flags}" if flags else ""),
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def _corners(fractions: np.ndarray) -> np.ndarray:
    """Ternary coordinates of (Mg, Si, Fe) fractions: Mg at the bottom left, Fe bottom right, Si at the top."""
    fractions = fractions / fractions.sum(axis=-1, keepdims=True)
    return np.stack([fractions[..., 2] + 0.5 * fractions[..., 1], np.sqrt(3) / 2 * fractions[..., 1]], axis=-1)


def ternary_figure(results: list[tuple[str, xr.Dataset]]):
    """Mg-Si-Fe atomic proportions (after RSFs) of every event where all three are detected, one colour per
    ``(name, result)``, with the reference minerals and CI chondrite."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 6))
    axis.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="k", lw=0.8)
    for corner, (x, y) in zip(TERNARY, [(0, 0), (0.5, np.sqrt(3) / 2), (1, 0)], strict=True):
        axis.annotate(corner, (x, y), xytext=(0, 6 if corner == "Si" else -14), textcoords="offset points", ha="center")
    references = yaml.safe_load((data_dir("defs") / "ternary_references.yaml").read_text(encoding="utf-8"))
    for name, atoms in references["references"].items():
        x, y = _corners(np.array([atoms[e] for e in TERNARY], dtype=float))
        axis.plot(x, y, "s", color="tab:gray")
        axis.annotate(name, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=8, color="tab:gray")
    shown = skipped = 0
    for name, result in results:
        elements = list(result["element"].values)
        index = [elements.index(e) for e in TERNARY]
        values = result["abundance"].values[:, index]
        complete = np.all(np.isfinite(values), axis=1)
        skipped += int((~complete).sum())
        if complete.any():
            points = _corners(values[complete])
            axis.plot(points[:, 0], points[:, 1], "o", alpha=0.7, ms=5, label=f"{name} ({int(complete.sum())})")
            shown += int(complete.sum())
    rsf = sorted({str(result["abundance"].attrs.get("rsf_status", "")) for _, result in results})
    axis.set_title(
        f"{shown} events with Mg, Si and Fe detected ({skipped} without), RSF status {', '.join(rsf)}", fontsize=9
    )
    if shown:
        axis.legend(fontsize=8, loc="upper right")
    axis.set_aspect("equal")
    axis.axis("off")
    figure.tight_layout()
    return figure


def noise_figure(diagnostics: xr.Dataset):
    """Per channel: the summed pre-trigger histogram with its Gaussian, the power spectrum and the autocorrelation."""
    plt = _pyplot()
    channels = list(diagnostics["channel"].values)
    figure, axes = plt.subplots(len(channels), 3, figsize=(12, 2.2 * len(channels)), squeeze=False)
    bins = diagnostics["noise_bin"].values
    for row, channel in zip(axes, channels, strict=True):
        one = diagnostics.sel(channel=channel)
        counts = one["noise_histogram"].values
        sigma = float(one["noise_sigma"].median())
        row[0].step(bins, counts, where="mid", color="k")
        if np.isfinite(sigma) and counts.sum() > 0:
            row[0].plot(
                bins,
                counts.sum() / (np.sqrt(2 * np.pi) * sigma) * np.exp(-0.5 * (bins / sigma) ** 2),
                color="tab:red",
                lw=0.8,
                label=f"Gaussian, sigma {sigma:.2f} dN",
            )
            row[0].legend(fontsize=7)
        row[0].set_xlim(-8 * max(sigma, 1), 8 * max(sigma, 1)) if np.isfinite(sigma) else None
        row[0].set_ylabel(channel, fontsize=8)
        for name in one.data_vars:
            if str(name).startswith("noise_power_") and np.isfinite(one[name].values).any():
                frequency = one[name].dims[0]
                row[1].semilogy(one[frequency].values[1:], one[name].values[1:], color="k", lw=0.7)
                row[1].set_xlabel("frequency (MHz)", fontsize=8)
        row[2].plot(one["lag"].values, np.nanmedian(one["noise_autocorrelation"].values, axis=0), color="k")
        row[2].axhline(0, color="tab:gray", lw=0.5)
        row[2].set_xlabel("lag (samples)", fontsize=8)
    axes[0, 0].set_title("pre-trigger histogram (dN from the median)", fontsize=9)
    axes[0, 1].set_title("power spectral density (dN²/MHz)", fontsize=9)
    axes[0, 2].set_title("autocorrelation (median over events)", fontsize=9)
    figure.tight_layout()
    return figure


def write_composition_plots(
    results: list[tuple[str, xr.Dataset]], folder: PathLike, noise: list[xr.Dataset] | None = None
) -> list[Path]:
    """Annotated spectra of every analysed event, the ternary of all and the noise figure of each file."""
    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, result in results:
        for event in np.flatnonzero(result["composition_status"].values == 0):
            figure = spectrum_figure(result, int(event))
            written.append(save_figure(figure, folder / f"{stem}_event{int(result['event'].values[event])}.png"))
            plt.close(figure)
    figure = ternary_figure(results)
    written.append(save_figure(figure, folder / "ternary_mg_si_fe.png"))
    plt.close(figure)
    for (stem, _), diagnostics in zip(results, noise or [], strict=False):
        figure = noise_figure(diagnostics)
        written.append(save_figure(figure, folder / f"{stem}_noise.png"))
        plt.close(figure)
    return written
