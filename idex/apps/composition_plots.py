"""Composition products: the per-event table, the annotated mass spectrum, the Mg-Si-Fe ternary, the noise figure.

Matplotlib with the headless ``Agg`` backend. The ternary's reference compositions (minerals, CI chondrite) are
data in ``defs/ternary_references.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from idex._typing import PathLike
from idex.atomic import save_figure
from idex.model.quality import QualityFlag
from idex.science.grain_summary import references

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
        if str(variable).startswith(("ratio_", "reference_")):
            table[str(variable)] = result[variable].values
    for element in ("Mg", "Si"):
        table[f"{element}_isotope_pattern_pvalue"] = result["isotope_pattern_pvalue"].sel(element=element).values
        table[f"{element}_isotope_pattern_status"] = result["isotope_pattern_status"].sel(element=element).values
    table["rsf_status"] = result["abundance"].attrs.get("rsf_status", "")
    return table


def spectrum_figure(result: xr.Dataset, event: int):
    """The combined TOF spectrum of one event on its mass axis (symmetric-log scale), detected lines labelled once
    per place: ``Mg-24*`` marks a line the instrument cannot tell from another ion (``species_ambiguous_with``);
    the title names the elements whose isotope pattern is not natural and the references within errors. The line
    fit (``tof_combined_model``) is drawn over it and the residual below, where a wrong line shape or an
    unlisted ion shows."""
    plt = _pyplot()
    row = result.isel(event=event)
    figure, (axis, below) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, height_ratios=(3, 1))
    mass, signal = row["mass"].values, row["tof_combined"].values
    detected = row["line_detected"].values
    masses = row["species_mass"].values
    upper = max(30.0, float(np.max(masses[detected], initial=0.0)) + 8)
    keep = np.isfinite(mass) & (mass > 0.5) & (mass < upper)
    axis.plot(mass[keep], signal[keep], lw=0.7, color="k", label="data")
    model = row["tof_combined_model"].values
    axis.plot(mass[keep], model[keep], lw=0.6, color="tab:orange", label="line fit")
    below.plot(mass[keep], (signal - model)[keep], lw=0.6, color="k")
    below.axhline(0.0, lw=0.5, color="tab:orange")
    below.set_ylabel("data - fit", fontsize=8)
    axis.legend(loc="upper right", fontsize=7)
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
    below.set_xlabel("mass (u)")
    axis.set_ylabel(f"TOF, gains joined ({row['tof_combined'].attrs.get('units', '')})")
    flags = int(row["quality_flags"].values)
    unnatural = [
        str(e)
        for e, ok, seen in zip(
            row["element"].values, row["isotope_pattern_consistent"].values, row["detected"].values, strict=True
        )
        if seen and not ok
    ]
    match = str(row["reference_match"].values)
    axis.set_title(
        f"event {int(row['event'].values)}: {len(placed)} lines detected (* cannot be told from another "
        f"ion), stretch {float(row['mass_stretch'].values):.4f} us/sqrt(u)"
        + (f", flags: {', '.join(QualityFlag.names_of(flags))}" if flags else "")
        + (f"\nisotope pattern not natural (other ions on its lines): {', '.join(unnatural)}" if unnatural else "")
        + (f"\nnearest references within errors: {match}" if match else ""),
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def _corners(fractions: np.ndarray) -> np.ndarray:
    """Ternary coordinates of (Mg, Si, Fe) fractions: Mg at the bottom left, Fe bottom right, Si at the top."""
    fractions = fractions / fractions.sum(axis=-1, keepdims=True)
    return np.stack([fractions[..., 2] + 0.5 * fractions[..., 1], np.sqrt(3) / 2 * fractions[..., 1]], axis=-1)


def _ternary_ellipse(ratios: np.ndarray, covariance: np.ndarray, steps: int = 60) -> np.ndarray:
    """One-standard-error ellipse on the ternary of a grain's (Mg/Si, Fe/Si) with their 2x2 covariance."""

    def place(r: np.ndarray) -> np.ndarray:
        return _corners(np.array([r[0], 1.0, r[1]]))

    step = 1e-6 * max(float(np.max(np.abs(ratios))), 1e-3)
    jacobian = np.column_stack([(place(ratios + d) - place(ratios - d)) / (2 * step) for d in np.eye(2) * step])
    values, vectors = np.linalg.eigh(jacobian @ covariance @ jacobian.T)
    angle = np.linspace(0, 2 * np.pi, steps)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return place(ratios)[:, None] + vectors @ (np.sqrt(np.clip(values, 0, None))[:, None] * circle)


def ternary_figure(results: list[tuple[str, xr.Dataset]]):
    """Mg-Si-Fe atomic proportions (after RSFs) of every event where all three are detected, one colour per
    ``(name, result)``, each with its one-standard-error ellipse (the Mg/Si, Fe/Si covariance); hollow where an
    isotope-pattern test says Mg's or Si's lines carry other ions; the reference compositions in grey."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 6))
    axis.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="k", lw=0.8)
    for corner, (x, y) in zip(TERNARY, [(0, 0), (0.5, np.sqrt(3) / 2), (1, 0)], strict=True):
        axis.annotate(corner, (x, y), xytext=(0, 6 if corner == "Si" else -14), textcoords="offset points", ha="center")
    for number, (name, atoms) in enumerate(references()[0].items()):
        x, y = _corners(np.array([atoms[e] for e in TERNARY], dtype=float))
        axis.plot(x, y, "s", color="tab:gray")
        offset = (4, 3) if number % 2 else (4, -10)  # alternate, so that close references stay readable
        axis.annotate(name, (x, y), xytext=offset, textcoords="offset points", fontsize=8, color="tab:gray")
    shown = skipped = unnatural = 0
    for number, (name, result) in enumerate(results):
        colour = f"C{number % 10}"
        elements = list(result["element"].values)
        values = result["abundance"].values[:, [elements.index(e) for e in TERNARY]]
        complete = np.all(np.isfinite(values), axis=1)
        skipped += int((~complete).sum())
        natural: np.ndarray = np.all(result["isotope_pattern_consistent"].sel(element=["Mg", "Si"]).values, axis=1)
        ratios = np.stack([result["ratio_mg_si"].values, result["ratio_fe_si"].values], axis=1)
        errors = np.stack([result["ratio_mg_si_stderr"].values, result["ratio_fe_si_stderr"].values], axis=1)
        rho = result["ratio_mg_si_fe_si_correlation"].values
        for event in np.flatnonzero(complete):
            covariance = np.outer(errors[event], errors[event]) * np.array([[1, rho[event]], [rho[event], 1]])
            if np.all(np.isfinite(covariance)):
                ellipse = _ternary_ellipse(ratios[event], covariance)
                axis.fill(ellipse[0], ellipse[1], color=colour, alpha=0.15, lw=0)
            x, y = _corners(values[event])
            axis.plot(x, y, "o", ms=5, color=colour, mfc=colour if natural[event] else "none")
        axis.plot([], [], "o", color=colour, label=f"{name} ({int(complete.sum())})")
        shown += int(complete.sum())
        unnatural += int((complete & ~natural).sum())
    rsf = sorted({str(result["abundance"].attrs.get("rsf_status", "")) for _, result in results})
    axis.set_title(
        f"{shown} events with Mg, Si, Fe detected ({skipped} without), RSF status {', '.join(rsf)}\n"
        f"shaded: 1 standard error (hidden by the marker when smaller); hollow ({unnatural}): Mg or Si isotope "
        "pattern not natural",
        fontsize=9,
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
