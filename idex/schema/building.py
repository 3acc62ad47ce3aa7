"""First steps of the schema's semantic pass: names claimed once, attributes, enumerations, bit fields,
dates and expressions with their cost bounds; every problem reported with its YAML path and line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from idex.exceptions import ValidationResult
from idex.schema.definitions import Derived, Field
from idex.schema.expressions import Bound, Expression, ExpressionError

__all__ = ["FieldBuilder", "dotted_path", "line_of"]

_RESERVED_NAMES = frozenset({"event", "epoch", "quality_flags"})


def dotted_path(path: Iterable[Any]) -> str:
    """A YAML path as text: ``channels.tof_high.sample_bits``, list items as ``[i]``."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def line_of(lines: Mapping[tuple, int], path: tuple) -> int | None:
    """The line of ``path`` in the YAML text, or of its nearest ancestor that has one."""
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


def _storable(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (str, int, float)):
        return True
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return False


class FieldBuilder:
    """The building blocks of :class:`~idex.schema.validation.SchemaBuilder`: fields, attributes, expressions."""

    def __init__(self, path: Path, doc: dict, lines: dict[tuple, int], result: ValidationResult) -> None:
        self.path, self.doc, self.lines, self.result = path, doc, lines, result
        self.names: dict[str, tuple] = {}
        self.bounds: dict[tuple, Bound] = {}  # what each expression's value can be, by its place

    def error(self, code: str, where: tuple, message: str) -> None:
        self.result.add(code, dotted_path(where), message, line_of(self.lines, where))

    def claim(self, name: str, where: tuple) -> None:
        """Register an output variable name; names must be unique across the whole schema."""
        if name in _RESERVED_NAMES:
            self.error("reserved-name", where, f"{name!r} is reserved for the event model")
        elif name in self.names:
            self.error("duplicate-name", where, f"{name!r} is already defined at {dotted_path(self.names[name])}")
        else:
            self.names[name] = where

    def attrs(self, entry: Mapping[str, Any], where: tuple) -> dict[str, Any]:
        attrs = dict(entry.get("attrs", {}))
        for key in ("long_name", "units"):
            if key in entry:
                attrs[key] = entry[key]
        for key, value in attrs.items():
            if not _storable(value):
                self.error(
                    "attr-type",
                    where + ("attrs", key),
                    f"attribute value {value!r} cannot be stored in CDF/netCDF "
                    "(use a string, a number or a non-empty list of numbers)",
                )
        return attrs

    def enumeration(self, entry: Mapping[str, Any], where: tuple, attrs: dict[str, Any]) -> dict[int, str]:
        enum: dict[int, str] = {}
        for key, label in entry.get("enumeration", {}).items():
            try:
                enum[int(key)] = label
            except (TypeError, ValueError):
                self.error("enum-key", where + ("enumeration", key), f"enumeration key {key!r} is not an integer")
        if enum:
            attrs["flag_values"] = sorted(enum)
            attrs["flag_meanings"] = " ".join(enum[k].replace(" ", "_") for k in sorted(enum))
        return enum

    def fields(self, entries: list[dict], where: tuple, start_bit: int, claim: bool = True) -> tuple[Field, ...]:
        out, offset = [], start_bit
        for index, entry in enumerate(entries):
            here = where + (index,)
            name = None if entry.get("spare") else entry.get("name")
            if name is None and not entry.get("spare"):
                self.error("missing-name", here, f"field {entry['mnemonic']} needs a name (or spare: true)")
            if name is not None and claim:
                self.claim(name, here + ("name",))
            attrs = self.attrs(entry, here)
            attrs.setdefault("mnemonic", entry["mnemonic"])
            enum = self.enumeration(entry, here, attrs)
            out.append(
                Field(
                    entry["mnemonic"],
                    name,
                    entry["bits"],
                    offset,
                    entry.get("per_event", True),
                    MappingProxyType(enum),
                    MappingProxyType(attrs),
                )
            )
            offset += entry["bits"]
        if (offset - start_bit) % 8:
            self.error(
                "bit-alignment", where, f"fields add up to {offset - start_bit} bits, not a whole number of bytes"
            )
        return tuple(out)

    def datetime(self, text: str | None, where: tuple) -> np.datetime64 | None:
        if text is None:
            return None
        try:
            return np.datetime64(text, "ns")
        except ValueError:
            self.error("datetime", where, f"{text!r} is not an ISO date-time like 2023-10-01T00:00:00")
            return None

    def expression(self, text: str, where: tuple, known: dict[str, Bound]) -> Expression:
        """Parse an expression, check that it only reads names defined so far and bound its cost."""
        try:
            expression = Expression(text)
        except ExpressionError as exc:
            self.error("expression", where, str(exc))
            return Expression("0")
        unknown = sorted(expression.names - known.keys())
        if unknown:
            self.error(
                "unknown-name",
                where,
                f"{', '.join(unknown)} not defined above (fields, constants or earlier derived entries)",
            )
            return expression
        try:
            self.bounds[where] = expression.bound(known)
        except ExpressionError as exc:
            self.error("expression-cost", where, str(exc))
            return Expression("0")
        return expression

    def derived(self, entries: list[dict], known: dict[str, Bound]) -> tuple[Derived, ...]:
        out = []
        for index, entry in enumerate(entries):
            here = ("derived", index)
            self.claim(entry["name"], here + ("name",))
            expression = self.expression(entry["expr"], here + ("expr",), known)
            known[entry["name"]] = self.bounds.get(here + ("expr",), Bound(True))
            attrs = self.attrs(entry, here)
            enum = self.enumeration(entry, here, attrs)
            dtype = np.dtype(entry["dtype"]) if "dtype" in entry else None
            out.append(Derived(entry["name"], expression, dtype, MappingProxyType(enum), MappingProxyType(attrs)))
        return tuple(out)
