"""Commands that run operations: batch processing, live capture, lab calibrations, scope campaigns, the viewer."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from idex.apps.commands.common import open_all, pointing_options, user_errors
from idex.apps.commands.grammar import OVERWRITE_HELP, progress, refuse_existing

__all__ = ["batch", "calibrate", "capture", "scope", "view"]


@click.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the products (the folder tree of ROOT is mirrored).",
)
@click.option(
    "--format", "formats", default="nc", show_default=True, help="Comma-separated output formats: nc, h5, cdf, csv."
)
@click.option("--fit", is_flag=True, help="Fit the waveforms too.")
@click.option("--quicklook", "with_quicklook", is_flag=True, help="Write quicklook figures too.")
@click.option("-j", "--jobs", type=int, help="Parallel local processes (default: CPU count).")
@click.option("--scheduler", help="Run on a dask.distributed scheduler at this address instead.")
@click.option("--force", is_flag=True, help="Reprocess files already done and unchanged.")
@pointing_options(note="; --force after changing")
@user_errors
def batch(
    root: Path,
    output_dir: Path,
    formats: str,
    fit: bool,
    with_quicklook: bool,
    jobs: int | None,
    scheduler: str | None,
    force: bool,
    kernels: tuple[Path, ...] = (),
    spin_tables: tuple[Path, ...] = (),
) -> None:
    """Decode (and fit, export, plot) every capture under ROOT; rerun to pick up only new or changed files.

    \b
    Examples:
      idex batch Data/ -o products/ --fit --format nc,csv
      idex batch Data/ -o products/ --scheduler tcp://10.0.0.5:8786
    """
    from idex.apps.batch import HELD_ELSEWHERE, BatchOptions, find_captures, run_batch

    options = BatchOptions(
        tuple(f.strip() for f in formats.split(",")),
        fit,
        with_quicklook,
        tuple(str(k) for k in kernels),
        tuple(str(t) for t in spin_tables),
    )
    total = len(find_captures(root))
    with progress(length=total, label="captures") as bar:
        results = run_batch(
            root, output_dir, options, jobs=jobs, scheduler=scheduler, force=force, progress=lambda _: bar.update(1)
        )
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        click.echo(f"failed: {result.source}: {result.message}", err=True)
    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    held = sum(r.message == HELD_ELSEWHERE for r in results)  # not unchanged: another live run is on them
    click.echo(
        f"{len(results)} captures: {counts['done']} done, {counts['skipped'] - held} skipped (unchanged), "
        + (f"{held} left to another batch run still processing them, " if held else "")
        + f"{counts['failed']} failed"
    )
    if failed:
        sys.exit(1)


@click.command()
@click.option("--host", default="localhost", show_default=True, help="Telemetry server (GS-OASIS).")
@click.option("--port", default=7514, show_default=True, type=int, help="Telemetry port.")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("captures"),
    show_default=True,
    help="Folder for the capture files.",
)
@click.option("--rotate-mb", type=float, help="Start a new file after this many MB.")
@click.option("--rotate-minutes", type=float, help="Start a new file after this many minutes.")
@click.option("--live", is_flag=True, help="Decode as it goes: one line per completed event.")
@user_errors
def capture(
    host: str, port: int, output_dir: Path, rotate_mb: float | None, rotate_minutes: float | None, live: bool
) -> None:
    """Record raw telemetry from a TCP socket until Ctrl+C or SIGTERM, reconnecting when dropped.

    \b
    Examples:
      idex capture --host gse-oasis --port 7514 -o Data/ --rotate-minutes 60 --live
    """
    import threading

    from idex.apps.capture import CaptureWriter, LiveEvents
    from idex.apps.capture import capture as run_capture
    from idex.apps.capture_events import EventParts

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    from idex.schema import loadable_schemas

    known = frozenset().union(*(loaded.known_apids for loaded in loadable_schemas()))
    writer = CaptureWriter(
        output_dir,
        rotate_bytes=int(rotate_mb * 1e6) if rotate_mb else None,
        rotate_seconds=rotate_minutes * 60 if rotate_minutes else None,
        known_apids=known,
        events=EventParts(max(loadable_schemas(), key=lambda s: s.valid_from)),
    )
    on_packets = LiveEvents(_print_event).feed if live else None
    click.echo(f"capturing from {host}:{port} into {output_dir} (Ctrl+C to stop)", err=True)
    received = run_capture(host, port, writer, stop, on_packets=on_packets)
    click.echo(
        f"stopped: {received} bytes in {len(writer.files)} file(s): " + ", ".join(p.name for p in writer.files),
        err=True,
    )


def _print_event(ds) -> None:
    import numpy as np

    for number in ds["event"].values:
        row = ds.sel(event=number)
        epoch = np.datetime_as_string(row["epoch"].values, unit="ms")
        click.echo(
            f"event {int(number)} {epoch} trigger_id={int(row['trigger_id'])} "
            f"tof_high_max={int(row['tof_high'].max())} flags={int(row['quality_flags'])}"
        )


@click.command()
@click.argument("campaigns", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Calibration file to write (the format ds.idex.velocity(calibration=...) reads).",
)
@click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the report: calibration.png (curves, shots, residuals) and calibration.md.",
)
@click.option("--target", default="target_low", show_default=True, help="Target channel to calibrate.")
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(0), help="Bootstrap resamplings.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--tof",
    is_flag=True,
    help="Instead: TOF stretch/shift defaults for a schema's mass section from event files of known composition.",
)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@user_errors
def calibrate(
    campaigns: tuple[Path, ...],
    output: Path,
    report: Path | None,
    target: str,
    bootstrap: int,
    seed: int,
    tof: bool,
    overwrite: bool,
) -> None:
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
    from idex.science.lab_calibration import calibrate as fit_curves
    from idex.science.lab_calibration import write_calibration
    from idex.science.tof_calibration import calibrate_tof, write_tof_calibration

    if tof and report is not None:
        raise click.UsageError("--report describes the lab-curve calibration; --tof writes no report (drop one)")
    refuse_existing([output, *([report / "calibration.png", report / "calibration.md"] if report else [])], overwrite)
    if tof:
        files = [f for c in campaigns for f in ([c] if c.is_file() else sorted(p for p in c.rglob("*") if p.is_file()))]
        result = calibrate_tof(open_all(files))
        write_tof_calibration(result, output)
        section = result.mass_section()
        click.echo(
            f"{result.used} events ({result.undetermined} undetermined, {result.outliers} outliers left out): "
            f"stretch {section['stretch_us_per_sqrt_u']} us/sqrt(u), shift "
            f"{section['shift_from_trigger_us']} us from the trigger -> {output}"
        )
        return
    files = sorted({f for c in campaigns for f in ([c] if c.is_file() else c.rglob("shots.nc"))})
    if not files:
        raise click.UsageError("no shots.nc under the given folders: run `idex scope` on the campaigns first")
    shots = []
    for path, ds in zip(files, open_all(files), strict=True):
        ds.attrs["campaign"] = path.parent.name if path.name == "shots.nc" else path.stem
        shots.append(ds)
    curves = fit_curves(shots, target=target, bootstrap=bootstrap, seed=seed)
    write_calibration(curves, output)
    if report is not None:
        from idex.science.calibration_report import write_report

        write_report(curves, report)
    rise, charge_yield = curves.rise_time, curves.charge_yield
    click.echo(
        f"{curves.shots} shots of {len(files)} campaign(s): rise time from {rise.used}, yield from "
        f"{charge_yield.used}, ion grid from {curves.ion_grid.used if curves.ion_grid else 0} shots; valid "
        f"{max(rise.velocity_range[0], charge_yield.velocity_range[0]):.3g}-"
        f"{min(rise.velocity_range[1], charge_yield.velocity_range[1]):.3g} km/s -> {output}"
    )


@click.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the products, one sub-folder per campaign.",
)
@click.option("--setup", default="idex_dust_accelerator", show_default=True, help="Scope setup name or YAML file.")
@click.option("--db", help="SQLAlchemy URL of the accelerator database (default: the setup's environment variable).")
@click.option(
    "--quicklook/--no-quicklook", "with_quicklook", default=True, show_default=True, help="Write a figure per shot."
)
@click.option("--force", is_flag=True, help="Reprocess campaigns whose products are newer than their traces.")
@user_errors
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
    with progress(campaigns, label="campaigns") as bar:
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


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def view(paths: tuple[Path, ...]) -> None:
    """Open the desktop viewer on captures, .trc folders or products (needs the idex[gui] extra).

    \b
    Examples:
      idex view tests/data/imap_idex_l0_raw_20231214_v001.pkts
      idex view products/*.nc campaigns/run1/
    """
    from idex.opening import kind_of

    unreadable = [f"{p} ({kind_of(p)})" for p in paths if p.is_file() and kind_of(p) in ("csv", "text")]
    if unreadable:  # checked before Qt starts: the viewer shows event files, not tables
        raise click.BadParameter(
            f"not event files: {', '.join(unreadable)}; open the .nc, .h5, .cdf, capture or .trc instead",
            param_hint="PATHS",
        )
    try:
        from idex.apps.view import main as view_main
        from idex.apps.view.app import run  # noqa: F401 - imports Qt (PySide6): fails here, not inside the viewer
    except ImportError as error:
        raise click.ClickException(f"the viewer needs Qt: pip install 'idex[gui]' ({error})") from None
    sys.exit(view_main([str(p) for p in paths]))
