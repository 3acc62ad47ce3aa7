"""Commands that answer the science questions over many events: dust maps and composition tables."""

from __future__ import annotations

from pathlib import Path

import click

from idex.apps.commands.common import left_out, open_all, open_events, selected, user_errors
from idex.apps.commands.grammar import GRID, OVERWRITE_HELP, expand_inputs, refuse_existing

__all__ = ["composition", "maps"]


@click.command()
@click.argument("files", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sky_map.png"),
    show_default=True,
    help="PNG to write.",
)
@click.option(
    "--bins", type=GRID, default="72x36", show_default=True, help="Longitude x latitude bins (equal area), written NxM."
)
@click.option("--smooth", type=float, default=0.0, help="Gaussian smoothing width, in bins.")
@click.option(
    "--exposure",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Exposure map (.npy, latitude x longitude bins) to turn counts into rates.",
)
@click.option("--synthetic", type=int, help="Ignore FILES and map this many synthetic interstellar-dust events.")
@click.option("--all-events", is_flag=True, help="Map every event, not only the dust hits.")
@click.option(
    "--messages",
    "-m",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Event messages (captures, msg CDFs): map rates per second of acquisition on the official 6° grid.",
)
@click.option(
    "--projection",
    type=click.Choice(["mollweide", "rectangular"]),
    default="mollweide",
    show_default=True,
    help="With --messages: the map's projection.",
)
@click.option(
    "--map-quantity",
    type=click.Choice(["rate", "counts"]),
    default="rate",
    show_default=True,
    help="With --messages: exposure-normalised rates or counts.",
)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@user_errors
def maps(
    files: tuple[str, ...],
    output: Path,
    bins: tuple[int, int],
    smooth: float,
    exposure: Path | None,
    synthetic: int | None,
    all_events: bool,
    messages: tuple[Path, ...],
    projection: str,
    map_quantity: str,
    overwrite: bool,
) -> None:
    """Sky map of dust arrival directions (per-event longitude/latitude) on a Mollweide projection.

    \b
    Examples:
      idex maps archive/*l1b*.cdf -o map.png --smooth 1
      idex maps --synthetic 5000 -o demo_map.png
      idex maps pointed/*.nc -m msg/*.cdf --projection rectangular -o rate_map.png
    """
    import numpy as np

    from idex.apps.maps import FRAME, plotted_longitude, render
    from idex.science.sky_maps import sky_map
    from idex.science.sky_maps import synthetic as synthetic_events

    refuse_existing([output], overwrite)
    if messages:
        from idex.apps.commands.rates import draw_rate_map

        return draw_rate_map(
            tuple(expand_inputs(files)),
            messages,
            output,
            projection=projection,
            quantity=map_quantity,
            all_events=all_events,
        )
    n_lon, n_lat = bins
    paths = expand_inputs(files) if files and not synthetic else []
    if synthetic:
        events = [synthetic_events(synthetic)]
    elif paths:
        opened = open_all(paths)
        events = [selected(ds, all_events) for ds in opened]
        left_out = sum(ds.sizes["event"] for ds in opened) - sum(ds.sizes["event"] for ds in events)
        if left_out:
            click.echo(f"{left_out} events that are not dust hits left out (--all-events keeps them)", err=True)
    else:
        raise click.UsageError("give FILES or --synthetic N")
    missing = [str(p) for p, ds in zip(paths, events, strict=True) if "longitude" not in ds] if not synthetic else []
    if missing:
        raise click.ClickException(
            f"no longitude/latitude in {', '.join(missing)} "
            "(add them with `idex pointing FILES -k KERNELS --spin-table CSV`)"
        )
    lon = np.concatenate([ds["longitude"].values for ds in events])
    lat = np.concatenate([ds["latitude"].values for ds in events])
    if not np.isfinite(lon).any():
        raise click.ClickException(
            "every longitude/latitude is NaN (made without SPICE kernels; see `idex pointing --help`)"
        )
    skymap = sky_map(
        lon, lat, n_lon=n_lon, n_lat=n_lat, smooth_bins=smooth, exposure=np.load(exposure) if exposure else None
    )
    if not np.isfinite(lon).all():
        click.echo(f"{int((~np.isfinite(lon)).sum())} events without longitude/latitude (NaN) left out", err=True)
    render(skymap, output, title=f"{int(np.isfinite(lon).sum())} events")
    peak_lon, peak_lat = skymap.peak
    click.echo(
        f"{int(np.isfinite(lon).sum())} events -> {output} (peak at {FRAME} lon "
        f"{plotted_longitude(peak_lon):.1f}, lat {peak_lat:.1f} deg on the map's -180..180 axis; "
        f"{peak_lon:.1f} in 0..360)"
    )


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("composition.csv"),
    show_default=True,
    help="CSV table, one row per event.",
)
@click.option(
    "--rsf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Relative sensitivity factors (YAML, as defs/rsf_defaults.yaml; default: the schema's).",
)
@click.option(
    "--lines",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Line list (CSV, as defs/composition_lines.csv; default: the schema's).",
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write annotated spectra, the Mg-Si-Fe ternary and noise figures to this folder.",
)
@click.option("--all-events", is_flag=True, help="Every event, not only the dust hits.")
@user_errors
def composition(
    files: tuple[Path, ...], output: Path, rsf: Path | None, lines: Path | None, plots: Path | None, all_events: bool
) -> None:
    """Composition of every dust event: identified lines, element abundances (after RSFs) with errors, upper limits.

    \b
    Examples:
      idex composition capture.pkts -o table.csv
      idex composition products/*.nc --rsf lab_rsf.yaml --plots composition_plots/
    """
    import pandas as pd

    from idex.apps.composition_plots import composition_table, write_composition_plots
    from idex.atomic import save_table
    from idex.science.composition import STATUS

    results, noises, total = [], [], 0
    for path in files:
        events = open_events(path)
        total += events.sizes["event"]
        ds = selected(events, all_events)
        results.append((path.stem, ds.idex.composition(rsf=rsf, lines=lines)))
        if plots is not None:
            noises.append(ds.idex.noise())
    table = pd.concat([composition_table(result, stem) for stem, result in results], ignore_index=True)
    save_table(table, output)
    counts = table["composition_status"].value_counts()
    not_analysed = ", ".join(f"{int(n)} {STATUS[int(code)].replace('_', ' ')}" for code, n in counts.items() if code)
    message = (
        f"{len(table)} events ({int(counts.get(0, 0))} analysed"
        + (f"; not analysed: {not_analysed}" if not_analysed else "")
        + f") from {len(files)} files -> {output}"
        + left_out(total - len(table), 0)
    )
    if plots is not None:
        message += f" and {len(write_composition_plots(results, plots, noise=noises))} plots in {plots}"
    click.echo(message)
