"""Commands that turn captures and products into products: decode, fit, quicklook, table, snr."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from idex.apps.commands.common import (
    COMPRESSION_HELP,
    decode_tree,
    left_out,
    open_events,
    pointing_options,
    selected,
    user_errors,
)
from idex.apps.commands.fitting import fitted as fitted_events
from idex.apps.commands.grammar import (
    INTEGERS,
    OVERWRITE_HELP,
    expand_inputs,
    progress,
    refuse_existing,
    refuse_unknown_format,
)

if TYPE_CHECKING:  # xarray is imported by the commands' bodies: `idex --help` stays light
    import xarray as xr

KEEP_DUPLICATES_HELP = "Keep every copy of an event found in several files (default: the first file's)."

__all__ = ["decode", "fit", "quicklook", "snr", "table"]


@click.command()
@click.argument("capture", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write: .nc, .h5, .cdf or .csv (default: CAPTURE with suffix .nc).",
)
@click.option("--schema", help="Schema name or YAML path (default: chosen from the capture's date).")
@click.option("--strict", is_flag=True, help="Stop at the first decoding problem instead of flagging it.")
@click.option("--all-groups", is_flag=True, help="netCDF only: write the whole tree (events, packets, raw APIDs).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--compression", type=click.IntRange(0, 9), help=COMPRESSION_HELP)
@pointing_options()
@user_errors
def decode(
    capture: Path,
    output: Path | None,
    schema: str | None,
    strict: bool,
    all_groups: bool,
    overwrite: bool,
    compression: int | None,
    kernels: tuple[Path, ...] = (),
    spin_tables: tuple[Path, ...] = (),
) -> None:
    """Decode a raw capture into the event model and write it (netCDF, HDF5, CDF or CSV).

    \b
    Examples:
      idex decode tests/data/imap_idex_l0_raw_20231214_v001.pkts -o events.nc
      idex decode capture.bin --schema science_2023_07 --all-groups
      idex decode capture.pkts -o out/imap_idex_l1a_sci_20231214_v001.cdf
    """
    from idex.atomic import atomic_path
    from idex.io import to_file
    from idex.model.dataset import stored_form

    output = output or capture.with_suffix(".nc")
    refuse_existing([output], overwrite)  # before decoding
    refuse_unknown_format(output)
    tree = decode_tree(capture, schema=schema, strict=strict)
    events = tree["events"].to_dataset()
    if kernels:
        from idex.apps.commands.rates import with_pointing

        events = with_pointing(events, capture, kernels, spin_tables)
    if all_groups:
        if output.suffix != ".nc":
            raise click.UsageError("--all-groups needs a .nc output")
        if output.exists() and not overwrite:
            raise click.ClickException(f"{output} exists; pass --overwrite to replace it")
        stored = tree.copy()
        stored["events"] = stored_form(events)
        with atomic_path(output, overwrite=True) as temporary:
            stored.to_netcdf(temporary)
    else:
        to_file(events, output, overwrite=overwrite, compression=compression)
    problems = tree["problems"].sizes["problem"] if "problems" in tree.children else 0
    flagged = int((events["quality_flags"] != 0).sum())
    verbose = click.get_current_context().find_root().params.get("verbose", False)
    hint = "; idex -v decode ... lists them" if (flagged or problems) and not verbose else ""
    click.echo(
        f"{capture.name}: {events.sizes['event']} events ({flagged} flagged, {problems} problems{hint}) "
        f"with schema {events.attrs.get('idex_schemas', tree.attrs['idex_schema'])} -> {output}"
    )


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("snr"),
    show_default=True,
    help="Folder for snr.csv and the plots.",
)
@click.option(
    "--fit/--no-fit",
    "with_fit",
    default=True,
    show_default=True,
    help="Fit the target signals to plot SNR against impact charge.",
)
@click.option(
    "--all-events",
    is_flag=True,
    help="Include noise captures, pulser and non-dust events (default: "
    "dust hits only, as the mission's L2 products count them).",
)
@click.option("--keep-duplicates", is_flag=True, help=KEEP_DUPLICATES_HELP)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@user_errors
def snr(
    files: tuple[str, ...], output_dir: Path, with_fit: bool, all_events: bool, keep_duplicates: bool, overwrite: bool
) -> None:
    """SNR study: per-event SNR of the TOF channels (official definition) as CSV, and the study plots.

    \b
    FILES are files, folders or patterns ("archive/**/*.cdf", quoted: searched recursively).
    Examples:
      idex snr "archive/**/*.cdf" -o snr_study/
      idex snr capture.pkts products/*.nc --no-fit
    """
    from idex.apps.snr_study import PLOTS, snr_plots, snr_table
    from idex.atomic import save_table

    paths = expand_inputs(files)
    refuse_existing([output_dir / name for name in ("snr.csv", *PLOTS)], overwrite)
    datasets, total = [], 0
    with progress(paths, label="reading") as bar:
        for path in bar:
            ds = open_events(path)
            total += ds.sizes["event"]
            datasets.append((str(path), selected(ds, all_events)))
    chosen = sum(ds.sizes["event"] for _, ds in datasets)
    with progress(length=chosen, label="fitting events" if with_fit else "SNR") as bar:
        table = snr_table(datasets, fit=with_fit, keep_duplicates=keep_duplicates, progress=bar.update)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_table(table, output_dir / "snr.csv")
    plots = snr_plots(table, output_dir)
    click.echo(
        f"{len(table)} events from {len(paths)} files -> {output_dir / 'snr.csv'} and {len(plots)} plots"
        + left_out(total - chosen, table.attrs.get("duplicates_dropped", 0))
    )


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write: .nc, .h5, .cdf or .csv.",
)
@click.option("--channels", help="Comma-separated channels to fit (default: all the schema fits).")
@click.option("--curves", is_flag=True, help="Also store the fitted model curves.")
@click.option("--schema", help="Schema (name or YAML path) whose fits to use (default: the one the data carry).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--compression", type=click.IntRange(0, 9), help=COMPRESSION_HELP)
@click.option(
    "--profile",
    type=click.Choice(["idex", "official", "l2a"]),
    help="CDF layout: idex's own (default), the mission's L1a, or the mission's L2A science product "
    "(impact charges, velocities and masses under the L2A names).",
)
@user_errors
def fit(
    source: Path,
    output: Path,
    channels: str | None,
    curves: bool,
    schema: str | None,
    overwrite: bool,
    compression: int | None,
    profile: str | None,
) -> None:
    """Fit every event's target and ion-grid signals and write the events with the fit outputs.

    \b
    Examples:
      idex fit capture.pkts -o fitted.nc
      idex fit events.nc -o fitted.csv --channels target_low,ion_grid
      idex fit capture.pkts -o l2a.cdf --profile l2a
    """
    from idex.io import to_file

    refuse_existing([output], overwrite)  # before fitting
    refuse_unknown_format(output)
    if profile is not None and output.suffix.lower() != ".cdf":
        raise click.BadParameter(f"a profile is a CDF layout; {output.name} is not a .cdf", param_hint="--profile")
    ds = open_events(source)
    refit = sorted({n[: -len("_fit_status")] for n in ds.data_vars if n.endswith("_fit_status")})
    fitted = fitted_events(ds, channels.split(",") if channels else None, curves=curves, schema=schema)
    options = {"profile": profile} if profile else {}
    if profile == "l2a":
        from idex.science.l2a import l2a_values

        fitted = l2a_values(fitted)
    to_file(fitted, output, overwrite=overwrite, compression=compression, **options)
    names = (
        channels.split(",")
        if channels
        else [str(n).removesuffix("_fit_success") for n in fitted.data_vars if str(n).endswith("_fit_success")]
    )
    summary = "; ".join(_fit_summary(fitted, name) for name in names)
    if refit:
        click.echo(f"{source.name} held fits of {', '.join(refit)}: replaced by this fit", err=True)
    click.echo(f"{source.name}: fits converged: {summary} -> {output}")
    if profile == "l2a":
        estimated = [name for name in names if f"{name}_velocity_estimate" in fitted]
        click.echo("velocity estimates: " + "; ".join(_velocity_summary(fitted, name) for name in estimated))


def _fit_summary(fitted: xr.Dataset, channel: str) -> str:
    """``"<channel> <converged>/<events>"`` and how many fits ended with each other status, by name."""
    from collections import Counter

    from idex.model.quality import FitStatus

    codes = Counter(int(code) for code in fitted[f"{channel}_fit_status"].values)
    others = [(FitStatus(code).name.lower(), n) for code, n in sorted(codes.items()) if code != FitStatus.CONVERGED]
    return _tally(channel, codes.get(int(FitStatus.CONVERGED), 0), fitted.sizes["event"], others)


def _velocity_summary(l2a: xr.Dataset, channel: str) -> str:
    """``"<channel> <velocities>/<events>"`` and why the others have none (not a science event, a saturated
    channel, or the velocity status by name)."""
    from collections import Counter

    import numpy as np

    from idex.model.quality import VelocityStatus

    found = np.isfinite(l2a[f"{channel}_velocity_estimate"].values)
    science = l2a["science_event_flag"].values == 1 if "science_event_flag" in l2a else np.ones(found.size, bool)
    flag = f"{channel}_saturation_flag"
    saturated = l2a[flag].values != 0 if flag in l2a else np.zeros(found.size, bool)
    status = l2a[f"{channel}_velocity_status"].values if f"{channel}_velocity_status" in l2a else None
    reasons = Counter(
        "not_science_event"
        if not science[i]
        else "saturated"
        if saturated[i]
        else VelocityStatus(int(status[i])).name.lower()
        if status is not None
        else "no_estimate"
        for i in np.flatnonzero(~found)
    )
    return _tally(channel, int(found.sum()), found.size, sorted(reasons.items()))


def _tally(channel: str, done: int, total: int, others: list[tuple[str, int]]) -> str:
    """``"<channel> <done>/<total> (<reason> <count>, ...)"``, the parenthesis only when there are others."""
    counted = f"{channel} {done}/{total}"
    return f"{counted} ({', '.join(f'{why} {n}' for why, n in others)})" if others else counted


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("quicklook"),
    show_default=True,
    help="Folder for the figures.",
)
@click.option("--pdf", is_flag=True, help="One multi-page PDF instead of a PNG per event.")
@click.option("--fit/--no-fit", "with_fit", default=True, show_default=True, help="Overlay impact fits.")
@click.option("--events", type=INTEGERS, help="Comma-separated event numbers (default: all).")
@user_errors
def quicklook(source: Path, output_dir: Path, pdf: bool, with_fit: bool, events: list[int] | None) -> None:
    """Plot each event's six channels in physical units, and a summary of the capture.

    \b
    Examples:
      idex quicklook capture.pkts -o plots/
      idex quicklook fitted.nc --pdf --events 3,7
    """
    from idex.apps.quicklook import write_quicklooks

    ds = open_events(source)
    if with_fit and not any(name.endswith("_fit_curve") for name in ds.data_vars):
        ds = fitted_events(ds, curves=True)
    numbers = events if events else [int(n) for n in ds["event"].values]
    unknown = sorted(set(numbers) - {int(n) for n in ds["event"].values})
    if unknown:
        raise click.BadParameter(
            f"no event {', '.join(map(str, unknown))} in {source.name} (events are "
            f"{int(ds['event'].min())}..{int(ds['event'].max())})",
            param_hint="--events",
        )
    with progress(length=len(numbers), label="plotting") as bar:
        written = write_quicklooks(ds, output_dir, stem=source.stem, pdf=pdf, events=numbers, progress=bar)
    click.echo(f"{source.name}: {len(written)} files in {output_dir}")


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file to write."
)
@click.option("--dust-only", is_flag=True, help="Only the dust hits (dust_hit_flag 1).")
@click.option("--keep-duplicates", is_flag=True, help=KEEP_DUPLICATES_HELP)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@user_errors
def table(files: tuple[str, ...], output: Path, dust_only: bool, keep_duplicates: bool, overwrite: bool) -> None:
    """Combine the per-event scalars of many files into one CSV, with source_file and event columns.

    \b
    FILES are files, folders or patterns ("products/**/*.nc", quoted: searched recursively).
    Examples:
      idex table "products/**/*.nc" -o all_events.csv
    """
    from idex.apps.table import combine
    from idex.atomic import save_table

    paths = expand_inputs(files)
    refuse_existing([output], overwrite)
    with progress(paths, label="reading") as bar:
        frame = combine(bar, keep_duplicates=keep_duplicates)
    duplicates = frame.attrs.get("duplicates_dropped", 0)
    not_dust = 0
    if dust_only:
        if "dust_hit_flag" not in frame:
            raise click.ClickException("no dust_hit_flag in these files (decode them with a schema that classifies)")
        dust = frame["dust_hit_flag"] == 1
        not_dust = int((~dust).sum())
        frame = frame[dust]
    save_table(frame, output)
    click.echo(
        f"{len(frame)} events from {len(paths)} files -> {output}"
        + left_out(not_dust, duplicates, keep_all="leaving out --dust-only keeps")
    )
