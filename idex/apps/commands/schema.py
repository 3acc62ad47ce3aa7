"""``idex schema``: validate, show, compare and start packet schemas."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from idex.apps.commands.common import user_errors

__all__ = ["schema"]


@click.group()
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
@user_errors
def schema_show(name: str | None) -> None:
    """List the schemas on the search path, or describe one field by field (byte and bit offsets).

    \b
    Examples:
      idex schema show
      idex schema show science_2023_12
    """
    from idex.schema import indistinguishable_overlaps, load_schema, loadable_schemas
    from idex.schema.report import describe

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
@user_errors
def schema_diff(first: str, second: str) -> None:
    """What changed between two schemas (names or paths): + added, - removed, ~ changed.

    \b
    Examples:
      idex schema diff science_2023_07 science_2023_12
    """
    from idex.schema import load_schema
    from idex.schema.report import differences

    lines = differences(load_schema(first), load_schema(second))
    click.echo("\n".join(lines) if lines else "no differences")


@schema.command("new")
@click.argument("name")
@click.option("--from", "base", default="science_2023_12", show_default=True, help="Schema to copy.")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write it (default: the first folder on $IDEX_SCHEMA_PATH).",
)
@user_errors
def schema_new(name: str, base: str, folder: Path | None) -> None:
    """Write a copy of a schema under a new name into your schema folder, ready to edit.

    \b
    Examples:
      idex schema new science_2026_03 --from science_2023_12 --folder my_schemas/
    """
    from idex.schema.report import new_schema

    target = new_schema(name, base, folder)
    click.echo(
        f"{target}: copy of {base}; edit it, then `idex schema validate {target}` "
        f"(and put its folder on $IDEX_SCHEMA_PATH to use it by name)"
    )
