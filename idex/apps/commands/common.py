"""What the commands share: user errors as one line, the compression option's help, opening inputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from idex.exceptions import IdexError, PacketWarning

__all__ = [
    "COMPRESSION_HELP",
    "decode_tree",
    "left_out",
    "pointing_options",
    "open_all",
    "open_events",
    "selected",
    "user_errors",
]

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Turn expected failures (:class:`~idex.exceptions.IdexError`, and the system's ``OSError``: a missing file,
    no permission, a full disk) into ``error: <reason>`` and exit status 1; anything else is a bug and shows it."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = click.get_current_context().find_root().params.get("verbose", False)
        try:
            return command(*args, **kwargs)
        except (IdexError, OSError) as error:
            if verbose:
                raise
            message = (
                str(error)
                if isinstance(error, IdexError)
                else str(error).splitlines()[0]
                if str(error)
                else type(error).__name__
            )  # idex's own messages are written for people: show all of them
            message = message.replace("pass overwrite=True (--overwrite on the command line)", "pass --overwrite")
            raise click.ClickException(message) from None

    return wrapper  # type: ignore[return-value]


COMPRESSION_HELP = (
    "GZIP/zlib level of .cdf/.nc/.h5 outputs, 0 (none) to 9 (default 1: 3-6x faster than 6, files ~20 % larger)."
)


def decode_tree(capture: Path, *, schema: str | None = None, strict: bool = False):
    """Decode, echoing decoding warnings to stderr with --verbose (they are always in the quality flags)."""
    from idex.decode.raw import open_raw
    from idex.exceptions import ProductError
    from idex.opening import kind_of, require_packets

    if capture.is_file() and kind_of(capture) != "telemetry":
        raise ProductError(
            f"{capture} is a {kind_of(capture)} file, not a raw capture; commands other than decode open it directly"
        )
    verbose = click.get_current_context().find_root().params.get("verbose", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if verbose else "ignore", PacketWarning)
        tree = open_raw(capture, schema=schema, strict=strict)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    return require_packets(tree, capture)


def open_events(path: Path):
    """The event model of any file idex reads (:func:`~idex.opening.open`); raw captures report their warnings."""
    from idex.opening import kind_of
    from idex.opening import open as open_any

    if path.is_file() and kind_of(path) == "telemetry":
        return decode_tree(path)["events"].to_dataset()
    from idex.io.l2a import require_waveforms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PacketWarning)
        return require_waveforms(open_any(path), path)


def open_all(paths: Iterable[Path], *, label: str = "reading") -> list:
    """:func:`open_events` of every path, with a progress bar on a terminal (a campaign is many files)."""
    from idex.apps.commands.grammar import progress

    with progress(list(paths), label=label) as bar:
        return [open_events(path) for path in bar]


def selected(ds, all_events: bool):
    """The dust hits of ``ds`` (all events when asked, or when the file has no classification)."""
    if all_events or "dust_hit_flag" not in ds:
        return ds
    return ds.idex.dust()


def left_out(not_dust: int, duplicates: int, *, keep_all: str = "--all-events keeps") -> str:
    """What a summary line adds about the events left out, and how to keep them."""
    notes = []
    if not_dust:
        notes.append(f"{not_dust} events that are not dust hits left out ({keep_all} them)")
    if duplicates:
        notes.append(
            f"{duplicates} duplicates dropped: the same impact time in several files (--keep-duplicates keeps them)"
        )
    return f"; {'; '.join(notes)}" if notes else ""


def pointing_options(note: str = "") -> Callable[[F], F]:
    """``--kernels/-k`` and ``--spin-table`` of the commands that add the mission's L1B pointing variables
    (``note`` ends the kernels' help, e.g. how a rerun picks up new kernels)."""
    existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)

    def decorate(command: F) -> F:
        command = click.option(
            "--spin-table",
            "spin_tables",
            multiple=True,
            type=existing_file,
            help="SDC spin-table CSV for spin_phase, with --kernels (repeat).",
        )(command)
        return click.option(
            "--kernels",
            "-k",
            multiple=True,
            type=existing_file,
            help=f"SPICE kernel or meta-kernel: add the mission's L1B pointing variables (repeat{note}).",
        )(command)

    return decorate
