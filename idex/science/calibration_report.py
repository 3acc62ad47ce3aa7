"""The report of a lab calibration: curves over their shots with residuals, and the tables behind them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from idex._typing import PathLike
from idex.science.lab_calibration import CURVE_PARAMETERS, CurveFit, LabCalibration

__all__ = ["readable_log_ticks", "write_report"]


def write_report(result: LabCalibration, folder: PathLike, *, pdf: bool = False) -> list[Path]:
    """Write ``calibration.png`` (or ``.pdf``) and ``calibration.md`` into ``folder``.

    The figure has one column per curve (rise time, charge yield, ion-grid law): the shots of each campaign,
    the fitted curve with its 1-sigma band, and the residuals in log10 below. The Markdown file tables the
    parameters with their bootstrap errors, the speed ranges, and the shots excluded and why.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from idex.atomic import atomic_path, save_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns = [("Target rise time", "us", result.rise_time), ("Charge yield", "C/kg", result.charge_yield)]
    figure, axes = plt.subplots(2, 3, figsize=(15, 7), height_ratios=[3, 1], sharex="col", layout="constrained")
    for column, (title, units, fit) in enumerate(columns):
        _curve_panel(axes[0, column], axes[1, column], fit, result.campaigns, f"{title} ({units})")
    _ion_grid_panel(axes[0, 2], axes[1, 2], result)
    for ax in axes.flat:
        readable_log_ticks(ax)
    figure.suptitle(f"IDEX lab calibration: {result.shots} shots, {len(result.campaigns)} campaign(s)")
    figure_path = save_figure(figure, folder / f"calibration.{'pdf' if pdf else 'png'}")
    plt.close(figure)
    table_path = folder / "calibration.md"
    with atomic_path(table_path, overwrite=True) as temporary:
        temporary.write_text(_markdown(result), encoding="utf-8")
    return [figure_path, table_path]


def readable_log_ticks(ax: Any) -> None:
    """Log axes labelled at the decades and at 2 and 5 times them only: on short ranges matplotlib labels every
    minor tick, and the labels overlap."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _: int) -> str:
        mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0.0
        return f"{value:g}" if np.isclose(mantissa, 2) or np.isclose(mantissa, 5) else ""

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_minor_formatter(FuncFormatter(label))


def _curve_panel(top, bottom, fit: CurveFit, campaigns: tuple[str, ...], label: str) -> None:
    for index, name in enumerate(campaigns):
        mine = fit.campaign == index
        top.loglog(fit.velocity[mine], fit.value[mine], ".", ms=3, alpha=0.6, label=name)
        bottom.semilogx(
            fit.velocity[mine], np.log10(fit.value[mine]) - fit.curve.log10(fit.velocity[mine]), ".", ms=3, alpha=0.6
        )
    speeds = fit.band_velocity
    centre = fit.curve.log10(speeds)
    top.loglog(speeds, 10**centre, "k-", lw=1.5, label="fit")
    top.fill_between(
        speeds,
        10 ** (centre - fit.band_sigma),
        10 ** (centre + fit.band_sigma),
        color="k",
        alpha=0.2,
        label="1-sigma (bootstrap)",
    )
    bottom.fill_between(speeds, -fit.band_sigma, fit.band_sigma, color="k", alpha=0.2)
    bottom.axhline(0, color="k", lw=0.8)
    top.set_ylabel(label)
    top.legend(fontsize=7)
    bottom.set_xlabel("QD speed (km/s)")
    bottom.set_ylabel("residual (dex)")


def _ion_grid_panel(top, bottom, result: LabCalibration) -> None:
    grid = result.ion_grid
    if grid is None:
        top.text(
            0.5, 0.5, "ion-grid law not calibrated\n(no successful ion-grid fits)", ha="center", transform=top.transAxes
        )
        return
    for index, name in enumerate(result.campaigns):
        mine = grid.campaign == index
        top.loglog(grid.velocity[mine], grid.ratio[mine], ".", ms=3, alpha=0.6, label=name)
        bottom.semilogx(
            grid.velocity[mine], np.log10(grid.velocity[mine]) - np.log10(grid(grid.ratio[mine])), ".", ms=3, alpha=0.6
        )
    ratios = np.geomspace(*grid.ratio_range, 50)
    top.loglog(grid(ratios), ratios, "k-", lw=1.5, label="fit")
    bottom.axhline(0, color="k", lw=0.8)
    top.set_ylabel("|Q ion grid| / |Q target|")
    top.legend(fontsize=7)
    bottom.set_xlabel("QD speed (km/s)")
    bottom.set_ylabel("log10 v(QD) - log10 v(law)")


def _markdown(result: LabCalibration) -> str:
    lines = [
        "# IDEX lab calibration",
        "",
        f"{result.shots} shots from {', '.join(result.campaigns)}; "
        f"uncertainties from {result.bootstrap} bootstrap resamplings of the shots.",
        "",
    ]
    for title, fit in (("Rise time (us)", result.rise_time), ("Charge yield (C/kg)", result.charge_yield)):
        lines += [f"## {title}", "", "| parameter | value | standard error |", "| --- | --- | --- |"]
        lines += [f"| {name} | {getattr(fit.curve, name):.6g} | {fit.stderr[name]:.3g} |" for name in CURVE_PARAMETERS]
        lines += [
            "",
            f"Valid {fit.velocity_range[0]:.3g}-{fit.velocity_range[1]:.3g} km/s; {fit.used} shots used, "
            f"residual rms {fit.residual_rms:.3f} dex.",
            "",
            _excluded(fit.excluded),
            "",
        ]
    grid = result.ion_grid
    lines += ["## Ion-grid law v = scale (100 R)^exponent + offset", ""]
    if grid is None:
        lines += ["Not calibrated: no shots with successful ion-grid fits.", ""]
    else:
        lines += ["| parameter | value | standard error |", "| --- | --- | --- |"]
        lines += [f"| {name} | {value:.6g} | {grid.stderr[name]:.3g} |" for name, value in grid.parameters.items()]
        lines += [
            "",
            f"Charge ratios {grid.ratio_range[0]:.3g}-{grid.ratio_range[1]:.3g}, speeds "
            f"{grid.velocity_range[0]:.3g}-{grid.velocity_range[1]:.3g} km/s; {grid.used} shots used.",
            "",
            _excluded(grid.excluded),
            "",
        ]
    return "\n".join(lines)


def _excluded(excluded: Mapping[str, int]) -> str:
    counts = {reason: count for reason, count in excluded.items() if count}
    if not counts:
        return "No shot excluded."
    return "Excluded: " + ", ".join(f"{count} ({reason})" for reason, count in counts.items()) + "."
