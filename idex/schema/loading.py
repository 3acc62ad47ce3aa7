"""Find, load and validate schemas: the search path, YAML parsing with line numbers, the structural pass
against ``schemas/_meta.schema.json``, caching."""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import warnings
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from idex._typing import PathLike
from idex.exceptions import SchemaError, SchemaWarning, ValidationResult
from idex.resources import YAML_LOADER, data_dir
from idex.schema.building import dotted_path, line_of
from idex.schema.defaults import meta_schema
from idex.schema.definitions import Schema
from idex.schema.validation import SchemaBuilder

__all__ = [
    "SCHEMA_PATH_ENV",
    "available_schemas",
    "indistinguishable_overlaps",
    "load_schema",
    "loadable_schemas",
    "registered_name",
    "schema_dirs",
    "schema_from_text",
    "validate_schema",
]

SCHEMA_PATH_ENV = "IDEX_SCHEMA_PATH"
"""Environment variable: extra folders (``os.pathsep``-separated) searched for schemas before the shipped ones."""


def schema_dirs() -> list[Path]:
    """Folders searched for schemas: those in ``$IDEX_SCHEMA_PATH``, then the shipped ``schemas/``."""
    extra = [Path(p) for p in os.environ.get(SCHEMA_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, data_dir("schemas")]


_REGISTERED_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")


def registered_name(value: object, attribute: str, *, kind: str = "schema") -> str:
    """``value`` when it names a shipped or registered schema (``kind="scope"``: scope setup); else a refusal.

    Data files name the schema or setup they were made with in attributes (``idex_schema``,
    ``idex_scope_setup``). Such a name selects only a file idex ships or one the user registered on
    ``$IDEX_SCHEMA_PATH``: never a path, so a data file cannot make idex read any other file.

    Raises
    ------
    SchemaError
        In one line that says how long the value is but does not repeat it.
    """
    text = value if isinstance(value, str) else ""
    sub = "scope" if kind == "scope" else ""
    if _REGISTERED_NAME.fullmatch(text) and any((d / sub / f"{text}.yaml").is_file() for d in schema_dirs()):
        return text
    result = ValidationResult(f"the {attribute!r} attribute of the data")
    result.add(
        "not-registered",
        attribute,
        f"names no shipped or registered {kind} ({len(str(value))} characters, not "
        f"shown); a data attribute may only name one, never a file",
    )
    raise SchemaError(result)


def available_schemas() -> list[str]:
    """Names of the schemas found in :func:`schema_dirs` (a new packet version is just a new file there)."""
    return sorted({p.stem for folder in schema_dirs() for p in folder.glob("*.yaml")})


def loadable_schemas() -> list[Schema]:
    """Every schema on the search path that loads; a broken file is skipped with a warning naming it.

    One invalid YAML file in ``$IDEX_SCHEMA_PATH`` then only affects its own use (asking for it by name
    raises its :class:`~idex.exceptions.SchemaError`), not every decode.
    """
    out = []
    for name in available_schemas():
        try:
            out.append(load_schema(name))
        except SchemaError as error:
            warnings.warn(f"schema {name!r} is skipped: {error}", SchemaWarning, stacklevel=2)
    return out


def indistinguishable_overlaps(schemas: Iterable[Schema]) -> list[str]:
    """Pairs of schemas whose validity windows overlap while their bits cannot tell them apart.

    Where two such schemas both cover a capture's date, the choice between them is arbitrary (the
    newer wins); each pair is described in words.
    """
    found = []
    ordered = sorted(schemas, key=lambda s: s.valid_from)
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            overlap = first.valid_until is None or second.valid_from < first.valid_until
            if overlap and first.header_packet_bytes == second.header_packet_bytes:
                found.append(
                    f"{first.name} and {second.name} overlap from {second.valid_from} and have the same "
                    f"{first.header_packet_bytes}-byte event header: captures in the overlap go to "
                    f"{second.name}"
                )
    return found


def load_schema(schema: str | PathLike | Schema) -> Schema:
    """Load and validate a schema by shipped name or by path.

    Parameters
    ----------
    schema : str, path or Schema
        A shipped schema name (see :func:`available_schemas`), a path to a YAML file,
        or an already loaded :class:`~idex.schema.definitions.Schema` (returned unchanged).

    Returns
    -------
    Schema

    Raises
    ------
    SchemaError
        If the file is missing or invalid; ``error.result`` lists every problem.

    Examples
    --------
    >>> import idex
    >>> idex.load_schema("science_2023_12").channels["tof_high"].n_samples
    8189
    """
    if isinstance(schema, Schema):
        return schema
    path = _resolve(schema)
    return _load_cached(str(path), path.stat().st_mtime_ns if path.exists() else 0)


def validate_schema(path: str | PathLike) -> ValidationResult:
    """Validate a schema file and return every problem found (empty when valid).

    Parameters
    ----------
    path : str or path
        Shipped schema name or YAML file path.

    Returns
    -------
    ValidationResult
    """
    try:
        load_schema(path)
    except SchemaError as error:
        return error.result
    return ValidationResult(str(_resolve(path)))


def _resolve(schema: str | PathLike) -> Path:
    text = str(schema)
    if not text.endswith((".yaml", ".yml")) and "/" not in text and "\\" not in text:
        for folder in schema_dirs():
            if (folder / f"{text}.yaml").is_file():
                return folder / f"{text}.yaml"
        return data_dir("schemas") / f"{text}.yaml"
    return Path(schema)


@lru_cache(maxsize=32)
def _load_cached(path_text: str, _mtime: int) -> Schema:
    path = Path(path_text)
    result = ValidationResult(path_text)
    if not path.is_file():
        names = ", ".join(available_schemas())
        result.add("not-found", "", f"no such schema file; shipped schemas are: {names}")
        raise SchemaError(result)
    if path.stat().st_size > MAX_SCHEMA_BYTES:
        result.add("too-large", "", f"{path.stat().st_size} bytes; a schema may have at most {MAX_SCHEMA_BYTES}")
        raise SchemaError(result)
    return _build(path.read_text(encoding="utf-8"), path, result)


def schema_from_text(text: str, source: str = "<embedded schema>") -> Schema:
    """Build and validate a schema from its YAML text (e.g. the copy a dataset carries in its attributes).

    Raises
    ------
    SchemaError
        If the text is not a valid schema; ``error.result`` lists every problem.
    """
    return _from_text_cached(text, source)


@lru_cache(maxsize=16)
def _from_text_cached(text: str, source: str) -> Schema:
    if len(text.encode("utf-8")) > MAX_SCHEMA_BYTES:
        result = ValidationResult(source)
        result.add("too-large", "", f"a schema may have at most {MAX_SCHEMA_BYTES} bytes")
        raise SchemaError(result)
    return _build(text, Path(source), ValidationResult(source))


def _build(text: str, path: Path, result: ValidationResult) -> Schema:
    """Parse, check against the meta-schema and build; every problem goes to ``result``."""
    try:
        document, lines = _parse_yaml(text, result)
    except _TooManyNodes:
        result.add(
            "too-large",
            "",
            f"the YAML expands to more than {MAX_SCHEMA_NODES} values (aliases repeating aliases?); a schema may not",
        )
        raise SchemaError(result) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        result.add("yaml", "", f"not valid YAML: {exc}", mark.line + 1 if mark else None)
        raise SchemaError(result) from None
    for error in _meta_validator().iter_errors(document):
        where = tuple(error.absolute_path)
        result.add("structure", dotted_path(where), _short_message(error), line_of(lines, where))
    if not result.ok:
        raise SchemaError(result)
    builder = SchemaBuilder(path, document, lines, result)
    schema = builder.build()
    if not result.ok:
        raise SchemaError(result)
    return dataclasses.replace(schema, text=text)


def _short_message(error: jsonschema.ValidationError) -> str:
    """The meta-schema's message, without echoing a whole oversized list or mapping."""
    if error.validator in ("maxItems", "maxProperties"):
        return f"{len(error.instance)} entries; at most {error.validator_value} are allowed"
    return error.message if len(error.message) <= 300 else error.message[:300] + "..."


@lru_cache(maxsize=1)
def _meta_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(meta_schema())


MAX_SCHEMA_BYTES = 2_000_000
MAX_SCHEMA_NODES = 200_000
"""Limits on schema files: size, and values after alias expansion (a few hundred lines expand to ~2 000)."""


class _TooManyNodes(Exception):
    """The YAML document expands past :data:`MAX_SCHEMA_NODES`."""


def _parse_yaml(text: str, result: ValidationResult) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML, recording the line of every node and flagging duplicate keys."""
    loader = YAML_LOADER(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:  # visits aliased nodes once per use: counts the expansion
        if len(lines) >= MAX_SCHEMA_NODES:
            raise _TooManyNodes
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if key.value in seen:
                    result.add(
                        "duplicate-key", dotted_path(path + (key.value,)), "key appears twice", key.start_mark.line + 1
                    )
                seen.add(key.value)
                walk(value, path + (_scalar_key(key),))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    if root is None:
        return None, lines
    walk(root, ())
    loader = YAML_LOADER("")  # the document is built from the nodes just walked: the text is parsed once
    try:
        return _dates_as_text(loader.construct_document(root)), lines
    finally:
        loader.dispose()


def _dates_as_text(node: Any) -> Any:
    """YAML reads an unquoted ``2025-03-01`` as a date: give every date back as ISO text, as if quoted."""
    if isinstance(node, dict):
        return {key: _dates_as_text(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_dates_as_text(value) for value in node]
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    return node


def _scalar_key(node: yaml.Node) -> Any:
    value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
    return value
