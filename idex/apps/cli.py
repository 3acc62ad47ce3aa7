"""The ``idex`` command line: a thin click layer over the library's public functions.

User errors (missing file, invalid schema, strict-mode decode failure) end with a one-line reason
on stderr and exit status 1; ``--verbose`` shows decoding warnings and tracebacks.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import signal
import sys
import warnings

import click

from idex._version import __version__
from idex.apps.commands.operations import batch, calibrate, capture, scope, view
from idex.apps.commands.products import decode, fit, quicklook, snr, table
from idex.apps.commands.rates import pointing, rates
from idex.apps.commands.schema import schema
from idex.apps.commands.science import composition, maps

__all__ = ["main"]


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
    warnings.formatwarning = _one_line_warning
    for signum in (signal.SIGTERM, signal.SIGINT):  # end at once, removing half-written temporaries (_terminate)
        previous = signal.signal(signum, _terminate)  # capture and the viewer set their own
        click.get_current_context().call_on_close(lambda s=signum, p=previous: signal.signal(s, p))  # in process
    atexit.register(gc.freeze)  # runs last: the exit skips the garbage collector's walk over every object loaded
    _first_use_notice(click.get_current_context().invoked_subcommand)


_COMPILING = frozenset({"decode", "fit", "quicklook", "batch", "table", "snr", "maps", "calibrate", "scope", "view"})
_DECODING_ONLY = ("decode", "model")
"""The kernel packages ``idex decode`` and ``idex maps`` reach (they fit nothing): the notice needs no fit kernels
for them."""
_FITTING_NOTHING = frozenset({"decode", "maps"})
_DECODING_AND_FITTING = ("decode", "model", "fit")
"""What the other commands reach (the resynchronising scan only for a capture that does not frame cleanly)."""


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A warning as the command line prints it: its kind and message, without the Python source line."""
    return f"warning ({category.__name__}): {message}\n"


def _first_use_notice(command: str | None) -> None:
    """Say why the first run is slow: idex's kernels are being compiled (once; ``idex warmup`` does it ahead)."""
    from idex.apps.warmup import kernels_cached

    if command in _COMPILING and not (
        kernels_cached(_DECODING_ONLY if command in _FITTING_NOTHING else _DECODING_AND_FITTING)
    ):
        click.echo(
            "first use: compiling idex's kernels once (up to a minute; later runs reuse them; "
            "`idex warmup` does it ahead, e.g. after installing)",
            err=True,
        )


@click.command()
def warmup() -> None:
    """Compile idex's kernels now (once per installation), so that the first real command starts at once.

    \b
    Examples:
      idex warmup
    """
    from idex.apps.warmup import STEPS, kernels_cached, warm_up

    cached = kernels_cached()
    with click.progressbar(
        length=len(STEPS), label="compiling kernels" if not cached else "checking kernels", file=sys.stderr
    ) as bar:
        warm_up(lambda _: bar.update(1))
    click.echo("kernels ready" + (" (they were already compiled)" if cached else ""))


def _terminate(signum: int, frame: object) -> None:
    """Stop at once, removing the temporary files being written (the previous outputs stay untouched).

    Raising an exception here instead (as Ctrl+C does by default) can land inside a library's locked
    region and deadlock its cleanup: ``KeyboardInterrupt`` while xarray writes a netCDF file left
    ``idex decode`` waiting forever on xarray's lock. So on the command line both Ctrl+C and SIGTERM end
    the process directly (exit status 128 + the signal number); in a Python session Ctrl+C still raises
    ``KeyboardInterrupt``. Batch workers end with their parent (:func:`idex.apps.batch_state.die_with_parent`).
    """
    from idex.atomic import remove_temporaries

    remove_temporaries()
    sys.stderr.write(f"stopped by signal {signum}; no partial file left\n")
    os._exit(128 + signum)


for _command in (decode, fit, quicklook, batch, capture, table, snr, maps, calibrate, scope, view, schema):
    main.add_command(_command)
for _command in (pointing, rates):
    main.add_command(_command)
main.add_command(warmup)
main.add_command(composition)


if __name__ == "__main__":  # pragma: no cover
    main()
