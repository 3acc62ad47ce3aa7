"""Commands of the dust-flux science: ``idex pointing`` (SPICE variables per event) and ``idex rates`` (L2B/L2C)."""

from __future__ import annotations

from pathlib import Path

import click

from idex.apps.commands.common import open_all, open_events, user_errors

__all__ = ["draw_rate_map", "pointing", "rates", "with_pointing"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def with_pointing(events, path: Path, kernels: tuple[Path, ...], spin_tables: tuple[Path, ...]):
    """``events`` with the pointing variables, each incomplete-coverage warning echoed with the file's name."""
    import warnings

    from idex.exceptions import IdexWarning
    from idex.science.pointing import pointing as add_pointing

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdexWarning)
        out = add_pointing(events, list(kernels) or None, list(spin_tables) or None)
    for warning in caught:
        click.echo(f"warning: {path.name}: {warning.message}", err=True)
    return out


@click.command()
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option(
    "--kernels",
    "-k",
    multiple=True,
    type=_FILE,
    help="SPICE kernel or meta-kernel (repeat: LSK, SCLK, FK, CK, SPK; default: $IDEX_SPICE_KERNELS).",
)
@click.option("--spin-table", "spin_tables", multiple=True, type=_FILE, help="SDC spin-table CSV (repeat).")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("pointed"),
    show_default=True,
    help="Folder for one netCDF per input, with the pointing variables added.",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist.")
@user_errors
def pointing(
    files: tuple[Path, ...], kernels: tuple[Path, ...], spin_tables: tuple[Path, ...], output_dir: Path, overwrite: bool
) -> None:
    """Add the mission's L1B pointing (ephemeris, boresight longitude/latitude, solar longitude, spin phase).

    \b
    Examples:
      idex pointing capture.pkts -k meta.tm --spin-table imap_2025_166_01.spin.csv -o pointed/
    """
    from idex.io import to_netcdf

    output_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        ds = with_pointing(open_events(path), path, kernels, spin_tables)
        target = output_dir / f"{path.stem}_pointed.nc"
        to_netcdf(ds, target, overwrite=overwrite)
        click.echo(f"{path.name}: {ds.sizes.get('event', 0)} events -> {target}")


@click.command()
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option(
    "--messages",
    "-m",
    multiple=True,
    required=True,
    type=_FILE,
    help="Where acquisition on/off comes from: captures or official L1a/L1b msg CDFs (repeat).",
)
@click.option(
    "--windows",
    default="official",
    show_default=True,
    help="'official' (the mission's 10-day schedule) or a pandas frequency such as 10d, 1D, MS.",
)
@click.option(
    "--spin-table",
    "spin_tables",
    multiple=True,
    type=_FILE,
    help="SDC spin tables, for the acquisition time per spin-phase quadrant (repeat).",
)
@click.option("--all-events", is_flag=True, help="Count every event, not only dust hits (dust_hit_flag 1).")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rates"),
    show_default=True,
    help="Folder for the L2B and L2C CDFs and a netCDF with every variable.",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs that exist.")
@click.option(
    "--plots/--no-plots",
    default=True,
    show_default=True,
    help="Also draw the rate map, the rate by spin phase and the dust-vs-orbit quicklook (PNG).",
)
@click.option(
    "--projection",
    type=click.Choice(["mollweide", "rectangular"]),
    default="mollweide",
    show_default=True,
    help="Projection of the map.",
)
@click.option(
    "--map-quantity",
    type=click.Choice(["rate", "counts"]),
    default="rate",
    show_default=True,
    help="Map exposure-normalised rates or raw counts.",
)
@click.option("--charge-edges", help="Impact-charge bin edges in pC, comma-separated (default: the official ones).")
@click.option("--mass-edges", help="Mass bin edges in kg, comma-separated (default: the official ones).")
@click.option("--healpix-nside", type=int, help="HEALPix resolution of the equal-area map (0: none).")
@user_errors
def rates(
    files: tuple[Path, ...],
    messages: tuple[Path, ...],
    windows: str,
    spin_tables: tuple[Path, ...],
    all_events: bool,
    output_dir: Path,
    overwrite: bool,
    plots: bool,
    projection: str,
    map_quantity: str,
    charge_edges: str | None,
    mass_edges: str | None,
    healpix_nside: int | None,
) -> None:
    """Counts, rates with Poisson intervals, and sky maps per window (the mission's L2B and L2C).

    FILES are event products with pointing (idex files, official L1b/L2a CDFs, captures); many files are read
    lazily as one collection.

    \b
    Examples:
      idex rates products/*.nc --messages imap_idex_l1b_msg-10days_20250609_v001.cdf -o rates/
      idex rates year/*.nc -m msgs/*.cdf --windows 1D -o daily/
    """
    import warnings

    import numpy as np

    from idex.exceptions import IdexWarning
    from idex.io.rate_products import product_file_name, write_rates
    from idex.io.rate_products import rates as compute

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdexWarning)
        events = _collection(files)
        out = compute(
            events,
            list(messages),
            windows=windows,
            dust_only=not all_events,
            spin_tables=list(spin_tables) or None,
            charge_edges=_edges(charge_edges, "--charge-edges"),
            mass_edges=_edges(mass_edges, "--mass-edges"),
            healpix_nside=healpix_nside,
        )
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    first = np.datetime_as_string(out["epoch"].values[0], unit="D").replace("-", "")
    written = [
        write_rates(out, output_dir / product_file_name("l2b", first), profile="l2b", overwrite=overwrite),
        write_rates(
            out,
            output_dir / product_file_name("l2c", first),
            profile="l2c",
            overwrite=overwrite,
        ),
        write_rates(out, output_dir / f"idex_rates_{first}.nc", overwrite=overwrite),
    ]
    for start, total, on, rate in zip(
        out["epoch"].values, out["counts_total"].values, out["on_seconds"].values, out["rate_total"].values, strict=True
    ):
        click.echo(
            f"{np.datetime_as_string(start, unit='D')}: {int(total)} dust hits, {on / 3600:.2f} h on, "
            f"rate {rate:.3g} /s"
        )
    if plots:
        from idex.apps import rate_plots

        figures = [output_dir / f"idex_{kind}_{first}.png" for kind in ("rate_map", "spin_phase", "dust_vs_orbit")]
        rate_plots.render_rate_map(out, figures[0], quantity=map_quantity, projection=projection)
        rate_plots.render_spin_phase(out, figures[1])
        rate_plots.render_orbit(out, figures[2])
        written += figures
    click.echo(" ".join(str(p) for p in written))


def draw_rate_map(
    files: tuple[Path, ...],
    messages: tuple[Path, ...],
    output: Path,
    *,
    projection: str,
    quantity: str,
    all_events: bool,
) -> None:
    """``idex maps -m ...``: the exposure-normalised map of FILES on the official grid, every window together."""
    import warnings

    from idex.apps import rate_plots
    from idex.exceptions import IdexWarning
    from idex.io.rate_products import rates as compute

    if not files:
        raise click.UsageError("give FILES with --messages")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdexWarning)
        out = compute(_collection(files), list(messages), dust_only=not all_events, healpix_nside=0)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    rate_plots.render_rate_map(out, output, quantity=quantity, projection=projection)
    click.echo(f"{rate_plots.summary(out)} -> {output}")


def _edges(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        edges = [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: comma-separated numbers", param_hint=option) from None
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise click.BadParameter(f"{text!r}: at least two increasing edges", param_hint=option)
    return edges


def _collection(files: tuple[Path, ...]):
    """One event collection from many files (lazily with dask for idex/official products)."""
    import xarray as xr

    from idex.opening import kind_of, open_products

    if all(kind_of(p) in ("netcdf", "cdf") for p in files) and len(files) > 1:
        return open_products([str(p) for p in files])
    return xr.concat(open_all(files), dim="event") if len(files) > 1 else open_events(files[0])
