"""The ``idex`` command line: a thin click layer over the library's public functions.

User errors (missing file, invalid schema, strict-mode decode failure) end with a one-line reason
on stderr and exit status 1; ``--verbose`` shows decoding warnings and tracebacks.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from idex._version import __version__
from idex.exceptions import IdexError, PacketWarning

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(command: F) -> F:
    """Turn expected failures into ``error: <reason>`` and exit status 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = click.get_current_context().find_root().params.get("verbose", False)
        try:
            return command(*args, **kwargs)
        except (IdexError, OSError, KeyError, ValueError) as error:
            if verbose:
                raise
            message = str(error) if isinstance(error, IdexError) else str(error).splitlines()[0] if str(error) \
                else type(error).__name__  # idex's own messages are written for people: show all of them
            raise click.ClickException(message) from None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="idex")
@click.option("-v", "--verbose", is_flag=True, help="Show every decoding warning and full tracebacks.")
def main(verbose: bool) -> None:
    """Decode, fit and export IDEX dust-impact data.

    \b
    Examples:
      idex decode capture.pkts -o events.nc
      idex fit capture.pkts -o fitted.nc
      idex quicklook capture.pkts -o plots/
      idex batch Data/ -o products/ --fit
      idex capture --port 7514 -o Data/ --live
      idex table products/*.nc -o events.csv
      idex snr archive/*.cdf -o snr_study/
      idex maps --synthetic 5000 -o map.png
      idex view capture.pkts
      idex schema show science_2023_12
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _terminate)  # ends at once, removing half-written temporary files


def _terminate(signum: int, frame: object) -> None:
    """Stop at once, removing the temporary files being written (the previous outputs stay untouched).

    Raising an exception here instead (as Ctrl+C does) can land inside a library's locked region and
    deadlock its cleanup (seen with xarray's netCDF lock), so the process ends directly.
    """
    from idex.io.atomic import remove_temporaries

    remove_temporaries()
    sys.stderr.write(f"stopped by signal {signum}; no partial file left\n")
    os._exit(128 + signum)


_COMPRESSION_HELP = ("GZIP/zlib level of .cdf/.nc/.h5 outputs, 0 (none) to 9 "
                     "(default 1: 3-6x faster than 6, files ~20 % larger).")


@main.command()
@click.argument("capture", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .nc, .h5, .cdf or .csv (default: CAPTURE with suffix .nc).")
@click.option("--schema", help="Schema name or YAML path (default: chosen from the capture's date).")
@click.option("--strict", is_flag=True, help="Stop at the first decoding problem instead of flagging it.")
@click.option("--all-groups", is_flag=True, help="netCDF only: write the whole tree (events, packets, raw APIDs).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--compression", type=click.IntRange(0, 9), help=_COMPRESSION_HELP)
@_user_errors
def decode(capture: Path, output: Path | None, schema: str | None, strict: bool, all_groups: bool,
           overwrite: bool, compression: int | None) -> None:
    """Decode a raw capture into the event model and write it (netCDF, HDF5, CDF or CSV).

    \b
    Examples:
      idex decode tests/data/imap_idex_l0_raw_20231214_v001.pkts -o events.nc
      idex decode capture.bin --schema science_2023_07 --all-groups
      idex decode capture.pkts -o out/imap_idex_l1a_sci_20231214_v001.cdf
    """
    from idex.dataset import stored_form
    from idex.io import to_file
    from idex.io.atomic import atomic_path

    output = output or capture.with_suffix(".nc")
    tree = _decode_tree(capture, schema=schema, strict=strict)
    events = tree["events"].to_dataset()
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
    click.echo(f"{capture.name}: {events.sizes['event']} events ({flagged} flagged, {problems} problems) "
               f"with schema {tree.attrs['idex_schema']} -> {output}")


def _decode_tree(capture: Path, *, schema: str | None = None, strict: bool = False):
    """Decode, echoing decoding warnings to stderr with --verbose (they are always in the quality flags)."""
    from idex.exceptions import ProductError
    from idex.opening import kind_of
    from idex.raw import open_raw

    if capture.is_file() and kind_of(capture) != "telemetry":
        raise ProductError(f"{capture} is a {kind_of(capture)} file, not a raw capture; "
                           "commands other than decode open it directly")
    verbose = click.get_current_context().find_root().params.get("verbose", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if verbose else "ignore", PacketWarning)
        tree = open_raw(capture, schema=schema, strict=strict)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    if tree["packets"].sizes["packet"] == 0:
        raise ProductError(f"{capture}: no CCSDS packet found: not a telemetry capture")
    return tree


def _open_events(path: Path):
    """The event model of any file idex reads (:func:`idex.open`); raw captures report their warnings."""
    from idex.opening import kind_of
    from idex.opening import open as open_any

    if path.is_file() and kind_of(path) == "telemetry":
        return _decode_tree(path)["events"].to_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PacketWarning)
        return open_any(path)


def _selected(ds, all_events: bool):
    """The dust hits of ``ds`` (all events when asked, or when the file has no classification)."""
    if all_events or "dust_hit_flag" not in ds:
        return ds
    return ds.idex.dust()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("snr"),
              show_default=True, help="Folder for snr.csv and the plots.")
@click.option("--fit/--no-fit", "with_fit", default=True, show_default=True,
              help="Fit the target signals to plot SNR against impact charge.")
@click.option("--all-events", is_flag=True, help="Include noise captures, pulser and non-dust events (default: "
                                                  "dust hits only, as the mission's L2 products count them).")
@_user_errors
def snr(files: tuple[Path, ...], output_dir: Path, with_fit: bool, all_events: bool) -> None:
    """SNR study: per-event SNR of the TOF channels (official definition) as CSV, and the study plots.

    \b
    Examples:
      idex snr archive/*.cdf -o snr_study/
      idex snr capture.pkts products/*.nc --no-fit
    """
    from idex.io.atomic import save_table
    from idex.snr_study import snr_plots, snr_table

    output_dir.mkdir(parents=True, exist_ok=True)
    table = snr_table(((str(path), _selected(_open_events(path), all_events)) for path in files), fit=with_fit)
    save_table(table, output_dir / "snr.csv")
    plots = snr_plots(table, output_dir)
    click.echo(f"{len(table)} events from {len(files)} files -> {output_dir / 'snr.csv'} and {len(plots)} plots")


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("sky_map.png"),
              show_default=True, help="PNG to write.")
@click.option("--bins", default="72x36", show_default=True, help="Longitude x latitude bins (equal area).")
@click.option("--smooth", type=float, default=0.0, help="Gaussian smoothing width, in bins.")
@click.option("--exposure", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Exposure map (.npy, latitude x longitude bins) to turn counts into rates.")
@click.option("--synthetic", type=int, help="Ignore FILES and map this many synthetic interstellar-dust events.")
@click.option("--all-events", is_flag=True, help="Map every event, not only the dust hits.")
@_user_errors
def maps(files: tuple[Path, ...], output: Path, bins: str, smooth: float, exposure: Path | None,
         synthetic: int | None, all_events: bool) -> None:
    """Sky map of dust arrival directions (per-event longitude/latitude) on a Mollweide projection.

    \b
    Examples:
      idex maps archive/*l1b*.cdf -o map.png --smooth 1
      idex maps --synthetic 5000 -o demo_map.png
    """
    import numpy as np

    from idex import maps as skymaps

    n_lon, n_lat = (int(v) for v in bins.lower().split("x"))
    if synthetic:
        events = [skymaps.synthetic(synthetic)]
    elif files:
        events = [_selected(_open_events(path), all_events) for path in files]
    else:
        raise click.UsageError("give FILES or --synthetic N")
    missing = [str(p) for p, ds in zip(files, events) if "longitude" not in ds] if not synthetic else []
    if missing:
        raise click.ClickException(f"no longitude/latitude in {', '.join(missing)} (official L1b products have them)")
    lon = np.concatenate([ds["longitude"].values for ds in events])
    lat = np.concatenate([ds["latitude"].values for ds in events])
    if not np.isfinite(lon).any():
        raise click.ClickException("every longitude/latitude is NaN (products made without SPICE have none)")
    skymap = skymaps.sky_map(lon, lat, n_lon=n_lon, n_lat=n_lat, smooth_bins=smooth,
                             exposure=np.load(exposure) if exposure else None)
    skymaps.render(skymap, output, title=f"{int(np.isfinite(lon).sum())} events")
    peak_lon, peak_lat = skymap.peak
    click.echo(f"{int(np.isfinite(lon).sum())} events -> {output} (peak at {skymaps.FRAME} lon "
               f"{skymaps.plotted_longitude(peak_lon):.1f}, lat {peak_lat:.1f} deg on the map's -180..180 axis; "
               f"{peak_lon:.1f} in 0..360)")


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write: .nc, .h5, .cdf or .csv.")
@click.option("--channels", help="Comma-separated channels to fit (default: all the schema fits).")
@click.option("--curves", is_flag=True, help="Also store the fitted model curves.")
@click.option("--schema", help="Schema (name or YAML path) whose fits to use (default: the one the data carry).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--compression", type=click.IntRange(0, 9), help=_COMPRESSION_HELP)
@_user_errors
def fit(source: Path, output: Path, channels: str | None, curves: bool, schema: str | None, overwrite: bool,
        compression: int | None) -> None:
    """Fit every event's target and ion-grid signals and write the events with the fit outputs.

    \b
    Examples:
      idex fit capture.pkts -o fitted.nc
      idex fit events.nc -o fitted.csv --channels target_low,ion_grid
    """
    from idex.io import to_file

    ds = _open_events(source)
    refit = sorted({n[: -len("_fit_status")] for n in ds.data_vars if n.endswith("_fit_status")})
    fitted = ds.idex.fit(channels.split(",") if channels else None, merge=True, curves=curves, schema=schema)
    to_file(fitted, output, overwrite=overwrite, compression=compression)
    names = channels.split(",") if channels else [n[: -len("_fit_success")] for n in fitted.data_vars
                                                   if n.endswith("_fit_success")]
    summary = ", ".join(f"{n} {int(fitted[f'{n}_fit_success'].sum())}/{fitted.sizes['event']}" for n in names)
    if refit:
        click.echo(f"{source.name} held fits of {', '.join(refit)}: replaced by this fit", err=True)
    click.echo(f"{source.name}: fits succeeded: {summary} -> {output}")


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("quicklook"),
              show_default=True, help="Folder for the figures.")
@click.option("--pdf", is_flag=True, help="One multi-page PDF instead of a PNG per event.")
@click.option("--fit/--no-fit", "with_fit", default=True, show_default=True, help="Overlay impact fits.")
@click.option("--events", help="Comma-separated event numbers (default: all).")
@_user_errors
def quicklook(source: Path, output_dir: Path, pdf: bool, with_fit: bool, events: str | None) -> None:
    """Plot each event's six channels in physical units, and a summary of the capture.

    \b
    Examples:
      idex quicklook capture.pkts -o plots/
      idex quicklook fitted.nc --pdf --events 3,7
    """
    from idex.quicklook import write_quicklooks

    ds = _open_events(source)
    if with_fit and not any(name.endswith("_fit_curve") for name in ds.data_vars):
        ds = ds.idex.fit(merge=True, curves=True)
    numbers = [int(n) for n in events.split(",")] if events else [int(n) for n in ds["event"].values]
    unknown = sorted(set(numbers) - {int(n) for n in ds["event"].values})
    if unknown:
        raise click.BadParameter(f"no event {', '.join(map(str, unknown))} in {source.name} (events are "
                                 f"{int(ds['event'].min())}..{int(ds['event'].max())})", param_hint="--events")
    with click.progressbar(length=len(numbers), label="plotting", file=sys.stderr) as bar:
        written = write_quicklooks(ds, output_dir, stem=source.stem, pdf=pdf, events=numbers, progress=bar)
    click.echo(f"{source.name}: {len(written)} files in {output_dir}")


@main.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the products (the folder tree of ROOT is mirrored).")
@click.option("--format", "formats", default="nc", show_default=True,
              help="Comma-separated output formats: nc, h5, cdf, csv.")
@click.option("--fit", is_flag=True, help="Fit the waveforms too.")
@click.option("--quicklook", "with_quicklook", is_flag=True, help="Write quicklook figures too.")
@click.option("-j", "--jobs", type=int, help="Parallel local processes (default: CPU count).")
@click.option("--scheduler", help="Run on a dask.distributed scheduler at this address instead.")
@click.option("--force", is_flag=True, help="Reprocess files already done and unchanged.")
@_user_errors
def batch(root: Path, output_dir: Path, formats: str, fit: bool, with_quicklook: bool, jobs: int | None,
          scheduler: str | None, force: bool) -> None:
    """Decode (and fit, export, plot) every capture under ROOT; rerun to pick up only new or changed files.

    \b
    Examples:
      idex batch Data/ -o products/ --fit --format nc,csv
      idex batch Data/ -o products/ --scheduler tcp://10.0.0.5:8786
    """
    from idex.batch import BatchOptions, find_captures, run_batch

    options = BatchOptions(tuple(f.strip() for f in formats.split(",")), fit, with_quicklook)
    total = len(find_captures(root))
    with click.progressbar(length=total, label="captures", file=sys.stderr) as bar:
        results = run_batch(root, output_dir, options, jobs=jobs, scheduler=scheduler, force=force,
                            progress=lambda _: bar.update(1))
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        click.echo(f"failed: {result.source}: {result.message}", err=True)
    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    click.echo(f"{len(results)} captures: {counts['done']} done, {counts['skipped']} skipped (unchanged), "
               f"{counts['failed']} failed")
    if failed:
        sys.exit(1)


@main.command()
@click.option("--host", default="localhost", show_default=True, help="Telemetry server (GS-OASIS).")
@click.option("--port", default=7514, show_default=True, type=int, help="Telemetry port.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("captures"),
              show_default=True, help="Folder for the capture files.")
@click.option("--rotate-mb", type=float, help="Start a new file after this many MB.")
@click.option("--rotate-minutes", type=float, help="Start a new file after this many minutes.")
@click.option("--live", is_flag=True, help="Decode as it goes: one line per completed event.")
def capture(host: str, port: int, output_dir: Path, rotate_mb: float | None, rotate_minutes: float | None,
            live: bool) -> None:
    """Record raw telemetry from a TCP socket until Ctrl+C or SIGTERM, reconnecting when dropped.

    \b
    Examples:
      idex capture --host gse-oasis --port 7514 -o Data/ --rotate-minutes 60 --live
    """
    import threading

    from idex.capture import CaptureWriter, LiveEvents
    from idex.capture import capture as run_capture

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    from idex.schema import loadable_schemas

    known = frozenset().union(*(loaded.known_apids for loaded in loadable_schemas()))
    writer = CaptureWriter(output_dir, rotate_bytes=int(rotate_mb * 1e6) if rotate_mb else None,
                           rotate_seconds=rotate_minutes * 60 if rotate_minutes else None, known_apids=known)
    on_packets = LiveEvents(_print_event).feed if live else None
    click.echo(f"capturing from {host}:{port} into {output_dir} (Ctrl+C to stop)", err=True)
    received = run_capture(host, port, writer, stop, on_packets=on_packets)
    click.echo(f"stopped: {received} bytes in {len(writer.files)} file(s): "
               + ", ".join(p.name for p in writer.files), err=True)


def _print_event(ds) -> None:
    import numpy as np

    for number in ds["event"].values:
        row = ds.sel(event=number)
        epoch = np.datetime_as_string(row["epoch"].values, unit="ms")
        click.echo(f"event {int(number)} {epoch} trigger_id={int(row['trigger_id'])} "
                   f"tof_high_max={int(row['tof_high'].max())} flags={int(row['quality_flags'])}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV file to write.")
@click.option("--dust-only", is_flag=True, help="Only the dust hits (dust_hit_flag 1).")
@_user_errors
def table(files: tuple[Path, ...], output: Path, dust_only: bool) -> None:
    """Combine the per-event scalars of many files into one CSV, with source_file and event columns.

    \b
    Examples:
      idex table products/*.nc -o all_events.csv
    """
    from idex.io.atomic import save_table
    from idex.table import combine

    frame = combine(files)
    if dust_only:
        if "dust_hit_flag" not in frame:
            raise click.ClickException("no dust_hit_flag in these files (decode them with a schema that classifies)")
        frame = frame[frame["dust_hit_flag"] == 1]
    save_table(frame, output)
    click.echo(f"{len(frame)} events from {len(files)} files -> {output}")


@main.command()
@click.argument("campaigns", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Calibration file to write (the format ds.idex.velocity(calibration=...) reads).")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the report: calibration.png (curves, shots, residuals) and calibration.md.")
@click.option("--target", default="target_low", show_default=True, help="Target channel to calibrate.")
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(0), help="Bootstrap resamplings.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--tof", is_flag=True, help="Instead: TOF stretch/shift defaults for a schema's mass section from "
                                          "event files of known composition.")
@_user_errors
def calibrate(campaigns: tuple[Path, ...], output: Path, report: Path | None, target: str, bootstrap: int,
              seed: int, tof: bool) -> None:
    """Fit the rise-time, charge-yield and ion-grid curves to dust-accelerator shots.

    \b
    CAMPAIGNS are shots.nc files written by `idex scope`, or folders holding them (searched recursively).
    Shots need a successful pickup-tube (QD) fit; excluded shots are counted by reason in the output.
    With --tof, CAMPAIGNS are event files or captures of known composition (e.g. iron dust) and OUTPUT
    gets the stretch and shift ranges for a schema's mass section.
    \b
    Examples:
      idex scope campaigns/ -o scope_products/ --db sqlite:///accelerator.db
      idex calibrate scope_products/ -o lab_calibration.yaml --report calibration_report/
      idex calibrate --tof iron_run_1.pkts iron_run_2.nc -o tof_calibration.yaml
    """
    from idex.lab_calibration import calibrate as fit_curves
    from idex.lab_calibration import calibrate_tof, write_calibration, write_tof_calibration

    if tof:
        files = [f for c in campaigns for f in ([c] if c.is_file() else sorted(p for p in c.rglob("*") if p.is_file()))]
        result = calibrate_tof([_open_events(path) for path in files])
        write_tof_calibration(result, output)
        section = result.mass_section()
        click.echo(f"{result.used} events ({result.undetermined} undetermined, {result.outliers} outliers left out): "
                   f"stretch {section['stretch_us_per_sqrt_u']} us/sqrt(u), shift "
                   f"{section['shift_from_trigger_us']} us from the trigger -> {output}")
        return
    files = sorted({f for c in campaigns for f in ([c] if c.is_file() else c.rglob("shots.nc"))})
    if not files:
        raise click.UsageError("no shots.nc under the given folders: run `idex scope` on the campaigns first")
    shots = []
    for path in files:
        ds = _open_events(path)
        ds.attrs["campaign"] = path.parent.name if path.name == "shots.nc" else path.stem
        shots.append(ds)
    result = fit_curves(shots, target=target, bootstrap=bootstrap, seed=seed)
    write_calibration(result, output)
    if report is not None:
        from idex.calibration_report import write_report

        write_report(result, report)
    rise, charge_yield = result.rise_time, result.charge_yield
    click.echo(f"{result.shots} shots of {len(files)} campaign(s): rise time from {rise.used}, yield from "
               f"{charge_yield.used}, ion grid from {result.ion_grid.used if result.ion_grid else 0} shots; valid "
               f"{max(rise.velocity_range[0], charge_yield.velocity_range[0]):.3g}-"
               f"{min(rise.velocity_range[1], charge_yield.velocity_range[1]):.3g} km/s -> {output}")


@main.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the products, one sub-folder per campaign.")
@click.option("--setup", default="idex_dust_accelerator", show_default=True, help="Scope setup name or YAML file.")
@click.option("--db", help="SQLAlchemy URL of the accelerator database (default: the setup's environment variable).")
@click.option("--quicklook/--no-quicklook", "with_quicklook", default=True, show_default=True,
              help="Write a figure per shot.")
@click.option("--force", is_flag=True, help="Reprocess campaigns whose products are newer than their traces.")
@_user_errors
def scope(root: Path, output_dir: Path, setup: str, db: str | None, with_quicklook: bool, force: bool) -> None:
    """Process dust-accelerator campaigns: every folder of LeCroy .trc files under ROOT (or ROOT itself).

    \b
    For each campaign: the event model (netCDF), impact and pickup-tube fits, the accelerator's
    assigned values (with --db or the setup's environment variable), a per-shot CSV summary and
    quicklook figures. Campaigns already done and unchanged are skipped; failures are summarised.
    \b
    Examples:
      idex scope campaigns/ -o scope_products/ --db sqlite:///accelerator.db
    """
    from idex.scope import process_campaign

    campaigns = sorted({p.parent for p in root.rglob("*.trc")})
    failed = []
    done = skipped = 0
    with click.progressbar(campaigns, label="campaigns", file=sys.stderr) as bar:
        for folder in bar:
            target = output_dir / (folder.relative_to(root) if folder != root else Path(root.name))
            try:
                if process_campaign(folder, target, setup=setup, url=db, quicklook=with_quicklook, force=force):
                    done += 1
                else:
                    skipped += 1
            except Exception as error:  # keep going: summarised below
                failed.append((folder, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))
    for folder, message in failed:
        click.echo(f"failed: {folder}: {message}", err=True)
    click.echo(f"{len(campaigns)} campaigns: {done} done, {skipped} skipped (unchanged), {len(failed)} failed")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def view(paths: tuple[Path, ...]) -> None:
    """Open the desktop viewer on captures, .trc folders or products (needs the idex[gui] extra).

    \b
    Examples:
      idex view tests/data/imap_idex_l0_raw_20231214_v001.pkts
      idex view products/*.nc campaigns/run1/
    """
    try:
        from idex.view import main as view_main
    except ImportError as error:
        raise click.ClickException(f"the viewer needs Qt: pip install 'idex[gui]' ({error})") from None
    sys.exit(view_main([str(p) for p in paths]))


@main.group()
def schema() -> None:
    """Inspect and validate packet schemas."""


@schema.command("validate")
@click.argument("paths", nargs=-1, required=True)
def schema_validate(paths: tuple[str, ...]) -> None:
    """Validate schema files (or shipped names); list every problem with its line and YAML path.

    Also warns about schemas on the search path whose validity windows overlap while their bits cannot
    tell them apart.
    """
    from idex.schema import indistinguishable_overlaps, loadable_schemas, validate_schema

    failed = 0
    for path in paths:
        result = validate_schema(path)
        if result.ok:
            click.echo(f"{path}: ok")
        else:
            failed += 1
            click.echo(str(result), err=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        overlaps = indistinguishable_overlaps(loadable_schemas())
    for message in [str(w.message) for w in caught] + overlaps:
        click.echo(f"warning: {message}", err=True)
    if failed:
        sys.exit(1)


@schema.command("show")
@click.argument("name", required=False)
@_user_errors
def schema_show(name: str | None) -> None:
    """List the schemas on the search path, or describe one field by field (byte and bit offsets).

    \b
    Examples:
      idex schema show
      idex schema show science_2023_12
    """
    from idex.schema import indistinguishable_overlaps, load_schema, loadable_schemas
    from idex.schema_report import describe

    if name is not None:
        click.echo(describe(load_schema(name)))
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schemas = loadable_schemas()
    for loaded in schemas:
        until = loaded.valid_until if loaded.valid_until is not None else "open"
        click.echo(f"{loaded.name}: valid {loaded.valid_from} .. {until} ({loaded.source})")
    for message in [str(w.message) for w in caught] + indistinguishable_overlaps(schemas):
        click.echo(f"warning: {message}", err=True)


@schema.command("diff")
@click.argument("first")
@click.argument("second")
@_user_errors
def schema_diff(first: str, second: str) -> None:
    """What changed between two schemas (names or paths): + added, - removed, ~ changed.

    \b
    Examples:
      idex schema diff science_2023_07 science_2023_12
    """
    from idex.schema import load_schema
    from idex.schema_report import differences

    lines = differences(load_schema(first), load_schema(second))
    click.echo("\n".join(lines) if lines else "no differences")


@schema.command("new")
@click.argument("name")
@click.option("--from", "base", default="science_2023_12", show_default=True, help="Schema to copy.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write it (default: the first folder on $IDEX_SCHEMA_PATH).")
@_user_errors
def schema_new(name: str, base: str, folder: Path | None) -> None:
    """Write a copy of a schema under a new name into your schema folder, ready to edit.

    \b
    Examples:
      idex schema new science_2026_03 --from science_2023_12 --folder my_schemas/
    """
    from idex.schema_report import new_schema

    target = new_schema(name, base, folder)
    click.echo(f"{target}: copy of {base}; edit it, then `idex schema validate {target}` "
               f"(and put its folder on $IDEX_SCHEMA_PATH to use it by name)")


if __name__ == "__main__":  # pragma: no cover
    main()
