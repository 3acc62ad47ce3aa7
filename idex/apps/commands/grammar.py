"""The command line's shared grammar: file patterns, list and grid options, the ``--overwrite`` rule.

Every command that takes many files accepts patterns quoted or not (``"products/**/*.nc"`` is searched
recursively, top-level files included) and folders (every file under them). Every option that parses a
value names itself and the expected form when the value does not fit. Every command that writes refuses
to replace an existing output unless ``--overwrite`` is given, and says so before doing any work. Long work
shows a progress bar when standard error is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["GRID", "INTEGERS", "OVERWRITE_HELP", "expand_inputs", "refuse_existing"]

OVERWRITE_HELP = "Replace outputs that exist (refused by default)."


class IntegerList(click.ParamType):
    """Comma-separated integers, e.g. ``3,7,12``."""

    name = "N,N,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        """The integers, or a usage error naming the option and the expected form."""
        if isinstance(value, list):
            return value
        try:
            return [int(item) for item in str(value).split(",") if item.strip()]
        except ValueError:
            self.fail(f"expected comma-separated whole numbers such as 3,7,12; got {value!r}", param, ctx)


class Grid(click.ParamType):
    """Two positive integers written ``NxM``, e.g. ``72x36``."""

    name = "NxM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        """``(N, M)``, or a usage error naming the option and the expected form."""
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split("x")
        try:
            first, second = (int(part) for part in parts)
        except ValueError:
            self.fail(f"expected two whole numbers written NxM such as 72x36; got {value!r}", param, ctx)
        if first < 1 or second < 1:
            self.fail(f"expected two positive numbers written NxM such as 72x36; got {value!r}", param, ctx)
        return first, second


INTEGERS = IntegerList()
GRID = Grid()


def expand_inputs(patterns: Iterable[str]) -> list[Path]:
    """The files named by ``patterns`` (files, folders, glob patterns; see the module docstring).

    Raises
    ------
    click.BadParameter
        Naming every pattern that matches no file.
    """
    from idex.io.products import expand_paths

    files: list[Path] = []
    empty = []
    for pattern in patterns:
        found = expand_paths(pattern)
        found = [f for f in found if Path(f).is_file()]
        if not found:
            empty.append(pattern)
        files += map(Path, found)
    if empty:
        raise click.BadParameter(f"no file matches {', '.join(map(repr, empty))}", param_hint="FILES")
    return list(dict.fromkeys(files))


def refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    """Stop before any work if an output exists and ``--overwrite`` was not given."""
    if overwrite:
        return
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise click.ClickException(f"{', '.join(existing)} exists; pass --overwrite to replace it")


def refuse_unknown_format(output: Path) -> None:
    """Stop before any work if ``output``'s extension names no format idex writes (it used to be found out
    only when writing, after a whole decode or fit)."""
    from idex.io import FORMATS

    if output.suffix.lower() not in FORMATS:
        raise click.BadParameter(
            f"unknown output format {output.suffix!r} for {output}; choose one of {sorted(FORMATS)}", param_hint="-o"
        )


class _Quiet:
    """A progress bar that draws nothing: the items, and ``update`` that does nothing."""

    def __init__(self, items: Iterable[Any] | None) -> None:
        self._items = items if items is not None else ()

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def update(self, steps: int) -> None:
        """Nothing to draw."""


def progress(items: Iterable[Any] | None = None, *, label: str, length: int | None = None) -> Any:
    """A progress bar on standard error when it is a terminal; silent in pipes, logs and scripts (their
    output stays the command's own lines)."""
    if sys.stderr.isatty():
        return click.progressbar(items, length=length, label=label, file=sys.stderr)
    return _Quiet(items)
