"""Schemas for people: a field-by-field description with byte and bit offsets, differences between two
versions, and a copy to edit in the user's own schema folder (the ``idex schema`` commands)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from idex._typing import PathLike
from idex.exceptions import SchemaError, ValidationResult
from idex.schema import SCHEMA_PATH_ENV, Field, Schema, load_schema

__all__ = ["describe", "differences", "new_schema"]


def _place(field: Field) -> str:
    """``byte B bit b`` of the field's first bit (bit 0 = most significant of the byte), and its width."""
    return f"byte {field.offset // 8:4d} bit {field.offset % 8}  {field.bits:2d} bits"


def describe(schema: Schema) -> str:
    """The schema in words: validity, channels, and every field with its place in the packet.

    Examples
    --------
    >>> import idex
    >>> text = describe(idex.load_schema("science_2023_12"))
    >>> print(next(line for line in text.splitlines() if line.strip().startswith("trigger_id ")).strip())
    trigger_id                        byte   56 bit 6  10 bits  IDX__TXHDRTRIGID
    """
    until = schema.valid_until if schema.valid_until is not None else "open"
    lines = [
        f"{schema.name} ({schema.source})",
        f"  {schema.description}",
        f"  valid {schema.valid_from} .. {until}; science APID {schema.science_apid}; event-header packets of "
        f"{schema.header_packet_bytes} bytes (type {schema.header_type_code})",
        "  sub-header (every science packet):",
    ]
    lines += [f"    {f.name or '(spare)':32s}  {_place(f)}  {f.mnemonic}" for f in schema.subheader]
    lines.append("  event header (header packets):")
    lines += [f"    {f.name or '(spare)':32s}  {_place(f)}  {f.mnemonic}" for f in schema.header_fields]
    lines.append("  channels:")
    lines += [
        f"    {c.name}: type {c.type_code}, {c.n_samples} x {c.sample_bits}-bit samples at "
        f"{c.sample_rate_mhz} MHz on {c.dim}"
        for c in schema.channels.values()
    ]
    lines.append("  derived: " + ", ".join(d.name for d in schema.derived))
    lines.append(
        "  housekeeping: "
        + (", ".join(f"{h.name} ({h.word} bits {h.lsb}..{h.lsb + h.bits - 1})" for h in schema.housekeeping) or "none")
    )
    return "\n".join(lines)


def _items(schema: Schema) -> dict[str, str]:
    """Everything that can differ between versions, as comparable text keyed by what it is."""
    items = {
        "validity": f"{schema.valid_from} .. {schema.valid_until}",
        "event-header packet bytes": str(schema.header_packet_bytes),
    }
    for kind, fields in (("sub-header", schema.subheader), ("header", schema.header_fields)):
        for f in fields:
            items[f"{kind} {f.name or f.mnemonic}"] = _place(f).replace("  ", ", ")
    for c in schema.channels.values():
        items[f"channel {c.name}"] = (
            f"type {c.type_code}, {c.n_samples} x {c.sample_bits} bits, "
            f"{c.sample_rate_mhz} MHz, factor {c.calibration_factor}"
        )
    for d in schema.derived:
        items[f"derived {d.name}"] = d.expression.source
    for h in schema.housekeeping:
        items[f"housekeeping {h.name}"] = f"{h.word} bits {h.lsb}..{h.lsb + h.bits - 1}, {h.conversion}"
    for name, spec in schema.fits.items():
        items[f"fit {name}"] = f"{spec.model}, {[(p.name, p.initial, p.min, p.max) for p in spec.parameters]}"
    return items


def differences(first: Schema, second: Schema) -> list[str]:
    """What changed from ``first`` to ``second``, one line per item (``+`` added, ``-`` removed, ``~`` changed).

    Examples
    --------
    >>> import idex
    >>> old, new = idex.load_schema("science_2023_07"), idex.load_schema("science_2023_12")
    >>> any(line.startswith("~ validity") for line in differences(old, new))
    True
    """
    a, b = _items(first), _items(second)
    lines = [f"- {key}: {a[key]}" for key in a if key not in b]
    lines += [f"+ {key}: {b[key]}" for key in b if key not in a]
    lines += [f"~ {key}: {a[key]} -> {b[key]}" for key in a if key in b and a[key] != b[key]]
    return lines


def new_schema(name: str, base: str | PathLike, folder: PathLike | None = None) -> Path:
    """Write a copy of schema ``base`` named ``name`` into ``folder`` (default: the first folder on
    ``$IDEX_SCHEMA_PATH``), ready to edit; returns the new file.

    Raises
    ------
    SchemaError
        If no folder is given and ``$IDEX_SCHEMA_PATH`` is unset, or the file exists already.
    """
    source = load_schema(base)
    target_folder = Path(folder) if folder is not None else _user_folder()
    target = target_folder / f"{name}.yaml"
    if target.exists():
        result = ValidationResult(str(target))
        result.add("exists", "", "the file exists already; choose another name or remove it")
        raise SchemaError(result)
    document = yaml.safe_load(source.text)
    document["name"] = name
    document["description"] = f"Copy of {source.name} to edit: {document.get('description', '')}"
    target_folder.mkdir(parents=True, exist_ok=True)
    header = (
        f"# {name}: made with `idex schema new {name} --from {source.name}`; edit it, then check it with\n"
        f"# `idex schema validate {target}` and compare with `idex schema diff {source.name} {name}`.\n"
    )
    target.write_text(
        header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8"
    )
    return target


def _user_folder() -> Path:
    folders = [p for p in os.environ.get(SCHEMA_PATH_ENV, "").split(os.pathsep) if p]
    if not folders:
        result = ValidationResult("idex schema new")
        result.add("no-folder", "", f"give --folder, or set ${SCHEMA_PATH_ENV} to your schema folder")
        raise SchemaError(result)
    return Path(folders[0])
