"""The ``idex`` command line: a thin click layer over the library's public functions.

User errors (missing file, invalid schema, strict-mode decode failure) end with a one-line reason
on stderr and exit status 1; ``--verbose`` shows decoding warnings and tracebacks.
"""

from __future__ import annotations

import logging
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
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
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
      idex schema show science_2023_12
      idex schema validate my_new_version.yaml
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@main.command()
@click.argument("capture", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="netCDF file to write (default: CAPTURE with suffix .nc).")
@click.option("--schema", help="Schema name or YAML path (default: chosen from the capture's date).")
@click.option("--strict", is_flag=True, help="Stop at the first decoding problem instead of flagging it.")
@click.option("--all-groups", is_flag=True, help="Write the whole tree (events, packets, raw APIDs) as groups.")
@_user_errors
def decode(capture: Path, output: Path | None, schema: str | None, strict: bool, all_groups: bool) -> None:
    """Decode a raw capture into the event model and write it as netCDF.

    \b
    Examples:
      idex decode tests/data/imap_idex_l0_raw_20231214_v001.pkts -o events.nc
      idex decode capture.bin --schema science_2023_07 --all-groups
    """
    from idex.raw import open_raw

    verbose = click.get_current_context().find_root().params["verbose"]
    output = output or capture.with_suffix(".nc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if verbose else "ignore", PacketWarning)
        tree = open_raw(capture, schema=schema, strict=strict)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    events = tree["events"].to_dataset()
    if all_groups:
        tree.to_netcdf(output)
    else:
        events.to_netcdf(output)
    problems = tree["problems"].sizes["problem"] if "problems" in tree.children else 0
    flagged = int((events["quality_flags"] != 0).sum())
    click.echo(f"{capture.name}: {events.sizes['event']} events ({flagged} flagged, {problems} problems) "
               f"with schema {tree.attrs['idex_schema']} -> {output}")


@main.group()
def schema() -> None:
    """Inspect and validate packet schemas."""


@schema.command("validate")
@click.argument("paths", nargs=-1, required=True)
def schema_validate(paths: tuple[str, ...]) -> None:
    """Validate schema files (or shipped names); list every problem with its line and YAML path."""
    from idex.schema import validate_schema

    failed = 0
    for path in paths:
        result = validate_schema(path)
        if result.ok:
            click.echo(f"{path}: ok")
        else:
            failed += 1
            click.echo(str(result), err=True)
    if failed:
        sys.exit(1)


@schema.command("show")
@click.argument("name", required=False)
@_user_errors
def schema_show(name: str | None) -> None:
    """List shipped schemas, or summarise one (validity, channels, derived and housekeeping names)."""
    from idex.schema import available_schemas, load_schema

    if name is None:
        for shipped in available_schemas():
            loaded = load_schema(shipped)
            until = loaded.valid_until if loaded.valid_until is not None else "open"
            click.echo(f"{shipped}: valid {loaded.valid_from} .. {until}")
        return
    loaded = load_schema(name)
    click.echo(f"{loaded.name} ({loaded.source})\n  {loaded.description}")
    click.echo(f"  science APID {loaded.science_apid}; header type {loaded.header_type_code}; "
               f"{sum(f.name is not None for f in loaded.header_fields)} header fields")
    for channel in loaded.channels.values():
        click.echo(f"  channel {channel.name}: type {channel.type_code}, {channel.n_samples} x "
                   f"{channel.sample_bits}-bit samples at {channel.sample_rate_mhz} MHz on {channel.dim}")
    click.echo("  derived: " + ", ".join(d.name for d in loaded.derived))
    click.echo("  housekeeping: " + (", ".join(h.name for h in loaded.housekeeping) or "none"))


if __name__ == "__main__":  # pragma: no cover
    main()
