"""Which schema an event Dataset was decoded with: the attributes that record it, and reading it back.

Every Dataset idex builds carries its schema's name, YAML text and the text's SHA-256 (:func:`schema_attributes`);
every writer keeps them, so an analysis uses exactly the schema the data were decoded with (:func:`schema_of`).
"""

from __future__ import annotations

import hashlib

import xarray as xr

from idex._typing import PathLike
from idex.exceptions import MissingKeyError, SchemaError, ValidationResult
from idex.schema import Schema, load_schema, registered_name, schema_from_text

__all__ = ["schema_attributes", "schema_of"]


def schema_attributes(schema: Schema) -> dict[str, str]:
    """The global attributes that record ``schema``: ``idex_schema`` (name), ``idex_schema_sha256`` and
    ``idex_schema_yaml`` (the schema itself, read back by :func:`schema_of`)."""
    return {"idex_schema": schema.name, "idex_schema_sha256": schema.sha256, "idex_schema_yaml": schema.text}


def schema_of(ds: xr.Dataset, schema: str | PathLike | Schema | None = None) -> Schema:
    """The schema an event Dataset was decoded with, or ``schema`` when one is given.

    A dataset carries its schema's YAML text (``idex_schema_yaml``, with its hash ``idex_schema_sha256``)
    through every writer, so the very schema it was decoded with is used, wherever it came from and
    whatever files now share its name. Datasets without the text (official products, files from before
    it was kept) fall back to the schema named by ``idex_schema``.

    Raises
    ------
    KeyError
        If the dataset names no schema (it was not made by idex).
    SchemaError
        If the embedded text does not match its hash (or has none) or is not a valid schema, or
        ``idex_schema`` names no shipped or registered schema (a data attribute never names a file).
    """
    if schema is not None:
        return load_schema(schema)
    text = ds.attrs.get("idex_schema_yaml")
    if text:
        expected = ds.attrs.get("idex_schema_sha256")
        if hashlib.sha256(str(text).encode("utf-8")).hexdigest() != expected:  # checked before it is even parsed
            result = ValidationResult("the 'idex_schema_yaml' attribute of the data")
            result.add("hash", "idex_schema_yaml", "does not match its hash 'idex_schema_sha256' (edited, or no hash)")
            raise SchemaError(result)
        return schema_from_text(str(text), source=f"<schema {ds.attrs.get('idex_schema', '')!s} carried by the data>")
    name = ds.attrs.get("idex_schema")
    if not name:
        raise MissingKeyError("the dataset has no 'idex_schema' attribute: it was not made by idex.open_raw")
    return load_schema(registered_name(name, "idex_schema"))
