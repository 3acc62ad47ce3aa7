"""Declarative packet schemas: load a YAML file, validate it, and expose it as frozen dataclasses.

A schema (``schemas/*.yaml``) describes one version of the IDEX science packet: framing, the
secondary header and science sub-header, every event-header field, the waveform channels, derived
quantities and housekeeping conversions. Validation runs in two passes and reports *every* problem
with its YAML path and line number: a structural pass against ``schemas/_meta.schema.json``
(JSON Schema) and a semantic pass (unique names, resolvable references, consistent bit layouts,
expressions that only use known names, attribute values that CDF and netCDF can store).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import numpy as np
import yaml

from idex._typing import PathLike
from idex.exceptions import SchemaError, SchemaWarning, ValidationResult
from idex.expressions import Expression, ExpressionError
from idex.resources import YAML_LOADER, data_dir

__all__ = [
    "Channel",
    "ClassificationSpec",
    "Conversion",
    "Derived",
    "DustSpec",
    "Field",
    "FitParameter",
    "FitSpec",
    "MassSpec",
    "MessageSpec",
    "Housekeeping",
    "Schema",
    "available_schemas",
    "fit_specs",
    "indistinguishable_overlaps",
    "load_schema",
    "loadable_schemas",
    "schema_dirs",
    "schema_from_text",
    "validate_schema",
]

PRIMARY_HEADER_BITS = 48
_RESERVED_NAMES = frozenset({"event", "epoch", "quality_flags"})


@dataclass(frozen=True)
class Field:
    """One fixed-width unsigned field of a packet, at a known bit offset from the packet start."""

    mnemonic: str
    name: str | None
    bits: int
    offset: int
    per_event: bool = True
    enumeration: Mapping[int, str] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned integer dtype that holds the field."""
        return _uint_dtype(self.bits)


@dataclass(frozen=True)
class Channel:
    """A waveform channel: how its samples are packed and on which time axis they sit."""

    name: str
    type_code: int
    sample_bits: int
    samples_per_word: int
    word_bits: int
    n_samples: int
    drop_trailing: int
    sample_rate_mhz: float
    dim: str
    time: str
    trigger_time: str
    fill_value: int
    compressed_samples: int | None
    calibration_factor: float | None
    calibration_units: str | None
    attrs: Mapping[str, Any]

    @property
    def words(self) -> int:
        """Number of packed words in one complete record."""
        return math.ceil((self.n_samples + self.drop_trailing) / self.samples_per_word)

    @property
    def word_bytes(self) -> int:
        """Bytes per packed word."""
        return self.word_bits // 8

    @property
    def sample_period_us(self) -> float:
        """Time between samples in microseconds."""
        return 1.0 / self.sample_rate_mhz


@dataclass(frozen=True)
class FitParameter:
    """Initial-guess rule, bounds and units of one fitted parameter."""

    name: str
    initial: str
    min: float
    max: float
    units: str | None


@dataclass(frozen=True)
class FitSpec:
    """How to fit one channel: model, parameters and the pre-impact baseline window."""

    channel: str
    model: str
    baseline_us: tuple[float, float]
    parameters: tuple[FitParameter, ...]
    min_significance: float = 0.0
    """Pulse extreme over the white-noise level (3-sample mean) below which the channel holds no signal."""

    @property
    def positive(self) -> bool:
        """True when the amplitude is bounded below by zero (the pulse sign is known)."""
        return any(p.name == "amplitude" and p.min >= 0 for p in self.parameters)


@dataclass(frozen=True)
class MassSpec:
    """Where to look for the TOF to mass calibration of :func:`idex.mass.mass`."""

    channel: str
    lines: str
    stretch_us_per_sqrt_u: tuple[float, float]
    shift_from_trigger_us: tuple[float, float]
    baseline_before_trigger_us: float
    match_tolerance_us: float


@dataclass(frozen=True)
class DustSpec:
    """Thresholds and windows of the dust-hit test (:mod:`idex.classify`), TOF gains highest first."""

    channels: tuple[str, ...]
    baseline_us: float
    height_sigma: float
    prominence_sigma: float
    distance_us: float
    min_width_us: float
    min_peaks: int
    single_peak_width_us: float
    match_us: float
    reference_baseline_dn: tuple[float, ...]
    reference_sigma_dn: tuple[float, ...]
    truncation_dn: float


@dataclass(frozen=True)
class ClassificationSpec:
    """Where the trigger information sits and the rules that call an event dust, noise or pulser."""

    trigger_id: str
    trigger_bits: Mapping[str, int]
    software_bits: tuple[int, ...]
    trigger_modes: Mapping[str, str]
    pulser_channel: str
    pulser_mode: int
    pulser_threshold_field: str
    pulser_threshold: int
    saturation_fraction: float
    dust: DustSpec


@dataclass(frozen=True)
class MessageSpec:
    """Layout of the instrument's event-message packets and where their text dictionaries are."""

    apid: int
    fields: tuple[Field, ...]
    coarse: str
    fine: str
    id: str
    dictionaries: Path

    @property
    def length(self) -> int:
        """Bytes a packet needs to hold every declared field."""
        return (self.fields[-1].offset + self.fields[-1].bits) // 8


@dataclass(frozen=True)
class Derived:
    """A quantity computed from header fields, constants and earlier derived quantities."""

    name: str
    expression: Expression
    dtype: np.dtype | None
    enumeration: Mapping[int, str]
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class Conversion:
    """Raw DN to engineering units: exactly one of polynomial, enumeration or lookup table."""

    polynomial: tuple[float, ...] | None = None
    enumeration: Mapping[int, str] | None = None
    lookup: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Convert raw values; enumerations keep the raw integer (labels go into attributes)."""
        if self.polynomial is not None:
            return np.polynomial.polynomial.polyval(raw.astype(np.float64), self.polynomial)
        if self.lookup is not None:
            return np.interp(raw.astype(np.float64), self.lookup[0], self.lookup[1])
        return raw


@dataclass(frozen=True)
class Housekeeping:
    """One ADC channel packed inside a header word, with its conversion to engineering units."""

    name: str
    word: str
    lsb: int
    bits: int
    conversion: Conversion
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class Schema:
    """A validated packet schema (see the module docstring and ``docs/schema.md``)."""

    name: str
    description: str
    source: Path
    xtce: Path | None
    valid_from: np.datetime64
    valid_until: np.datetime64 | None
    constants: Mapping[str, float]
    known_apids: frozenset[int]
    crc_apids: frozenset[int]
    secondary_header: tuple[Field, ...]
    met_epoch: np.datetime64
    fine_tick_s: float
    event_coarse: Expression
    event_fine: Expression
    packet_coarse: str
    packet_fine: str
    science_apid: int
    trailer_bits: int
    fragment_offset_unit_bytes: int
    roles: Mapping[str, str]
    subheader: tuple[Field, ...]
    header_type_code: int
    header_fields: tuple[Field, ...]
    channels: Mapping[str, Channel]
    derived: tuple[Derived, ...]
    housekeeping: tuple[Housekeeping, ...]
    fits: Mapping[str, FitSpec]
    mass: MassSpec | None
    messages: MessageSpec | None
    cdf_global_attributes: Mapping[str, str]
    attrs: Mapping[str, Any]
    classification: ClassificationSpec | None = None
    text: str = ""
    """The YAML document the schema was built from (embedded in every dataset decoded with it)."""

    @property
    def sha256(self) -> str:
        """Content hash of :attr:`text`: the identity of a schema, whatever its name or location."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def header_packet_bytes(self) -> int:
        """Length of an event-header packet: the header fields and the trailer."""
        return self.header_end + self.trailer_bits // 8

    @property
    def payload_offset(self) -> int:
        """Byte offset of the waveform payload (end of the sub-header) from the packet start."""
        return (self.subheader[-1].offset + self.subheader[-1].bits) // 8

    @property
    def header_end(self) -> int:
        """Byte offset of the end of the event-header fields from the packet start."""
        last = self.header_fields[-1]
        return (last.offset + last.bits) // 8

    @cached_property
    def channel_by_type(self) -> Mapping[int, Channel]:
        """Channels keyed by their packet type code."""
        return MappingProxyType({c.type_code: c for c in self.channels.values()})

    @property
    def packet_time_fields(self) -> tuple[Field, Field]:
        """Secondary-header fields holding the packet's coarse and fine MET."""
        by_name = {f.name: f for f in self.secondary_header}
        return by_name[self.packet_coarse], by_name[self.packet_fine]

    def subheader_field(self, role: str) -> Field:
        """The sub-header field playing ``role`` (e.g. ``"event_number"``)."""
        name = self.roles[role]
        return next(f for f in self.subheader if f.name == name)

    def covers(self, when: np.datetime64) -> bool:
        """True when ``when`` lies inside the schema's validity range."""
        if when < self.valid_from:
            return False
        return self.valid_until is None or when < self.valid_until


SCHEMA_PATH_ENV = "IDEX_SCHEMA_PATH"
"""Environment variable: extra folders (``os.pathsep``-separated) searched for schemas before the shipped ones."""


def schema_dirs() -> list[Path]:
    """Folders searched for schemas: those in ``$IDEX_SCHEMA_PATH``, then the shipped ``schemas/``."""
    extra = [Path(p) for p in os.environ.get(SCHEMA_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, data_dir("schemas")]


def fit_specs(entries: Mapping[str, dict], channels: set[str],
              error: Callable[[str, tuple, str], None]) -> dict[str, FitSpec]:
    """Build the fit declarations of a ``fits`` section (packet schema or scope setup), reporting problems.

    Parameters
    ----------
    entries : mapping
        The ``fits`` section: channel -> {model, parameters, baseline_us, min_significance}.
    channels : set of str
        Channel names the section may refer to.
    error : callable
        Receives ``(code, path within the section, message)`` for each problem.
    """
    from idex.guesses import RULES
    from idex.models import MODELS

    out = {}
    for name, entry in entries.items():
        if name not in channels:
            error("unknown-name", (name,), f"{name!r} is not a channel")
        model = MODELS.get(entry["model"])
        if model is None:
            error("unknown-name", (name, "model"), f"unknown model {entry['model']!r}; choose one of {sorted(MODELS)}")
            continue
        if list(entry["parameters"]) != list(model.parameters):
            error("parameters", (name, "parameters"),
                  f"model {model.name!r} needs parameters {list(model.parameters)} in this order")
        parameters = []
        for key, spec in entry["parameters"].items():
            if spec["initial"] not in RULES:
                error("unknown-name", (name, "parameters", key, "initial"),
                      f"unknown initial-guess rule {spec['initial']!r}; choose one of {sorted(RULES)}")
            low, high = spec.get("min", -math.inf), spec.get("max", math.inf)
            if low >= high:
                error("bounds", (name, "parameters", key), f"min {low} is not below max {high}")
            parameters.append(FitParameter(key, spec["initial"], low, high, spec.get("units")))
        window = tuple(entry.get("baseline_us", (-math.inf, -5.0)))
        out[name] = FitSpec(name, model.name, (float(window[0]), float(window[1])), tuple(parameters),
                            float(entry.get("min_significance", 0.0)))
    return out


def available_schemas() -> list[str]:
    """Names of the schemas found in :func:`schema_dirs` (a new packet version is just a new file there)."""
    return sorted({p.stem for folder in schema_dirs() for p in folder.glob("*.yaml")})


def loadable_schemas() -> list[Schema]:
    """Every schema on the search path that loads; a broken file is skipped with a warning naming it.

    One invalid YAML file in ``$IDEX_SCHEMA_PATH`` then only affects its own use (asking for it by name
    raises its :class:`SchemaError`), not every decode.
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
        for second in ordered[i + 1:]:
            overlap = first.valid_until is None or second.valid_from < first.valid_until
            if overlap and first.header_packet_bytes == second.header_packet_bytes:
                found.append(f"{first.name} and {second.name} overlap from {second.valid_from} and have the same "
                             f"{first.header_packet_bytes}-byte event header: captures in the overlap go to "
                             f"{second.name}")
    return found


def load_schema(schema: str | PathLike | Schema) -> Schema:
    """Load and validate a schema by shipped name or by path.

    Parameters
    ----------
    schema : str, path or Schema
        A shipped schema name (see :func:`available_schemas`), a path to a YAML file,
        or an already loaded :class:`Schema` (returned unchanged).

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
        result.add("too-large", "", f"the YAML expands to more than {MAX_SCHEMA_NODES} values (aliases repeating "
                                    "aliases?); a schema may not")
        raise SchemaError(result) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        result.add("yaml", "", f"not valid YAML: {exc}", mark.line + 1 if mark else None)
        raise SchemaError(result) from None
    for error in _meta_validator().iter_errors(document):
        where = tuple(error.absolute_path)
        result.add("structure", _dotted(where), error.message, _line_of(lines, where))
    if not result.ok:
        raise SchemaError(result)
    builder = _Builder(path, document, lines, result)
    schema = builder.build()
    if not result.ok:
        raise SchemaError(result)
    return dataclasses.replace(schema, text=text)


@lru_cache(maxsize=1)
def _meta_validator() -> jsonschema.Draft202012Validator:
    meta = json.loads((data_dir("schemas") / "_meta.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(meta)


MAX_SCHEMA_BYTES = 2_000_000
MAX_SCHEMA_NODES = 200_000
"""Limits on schema files: size, and values after alias expansion (a few hundred lines expand to ~2 000)."""


class _TooManyNodes(Exception):
    """The YAML document expands past :data:`MAX_SCHEMA_NODES`."""


def _parse_yaml(text: str, result: ValidationResult) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML, recording the line of every node and flagging duplicate keys."""
    root = yaml.compose(text, Loader=YAML_LOADER)
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:  # visits aliased nodes once per use: counts the expansion
        if len(lines) >= MAX_SCHEMA_NODES:
            raise _TooManyNodes
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if key.value in seen:
                    result.add("duplicate-key", _dotted(path + (key.value,)), "key appears twice",
                               key.start_mark.line + 1)
                seen.add(key.value)
                walk(value, path + (_scalar_key(key),))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    if root is not None:
        walk(root, ())
    return _dates_as_text(yaml.load(text, Loader=YAML_LOADER)), lines  # noqa: S506 - a safe loader


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


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def _line_of(lines: Mapping[tuple, int], path: tuple) -> int | None:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


@cache  # asked for every field of every decode
def _uint_dtype(bits: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.iinfo(dtype).bits:
            return np.dtype(dtype)
    raise ValueError(f"{bits} bits do not fit an unsigned integer")


def _storable(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (str, int, float)):
        return True
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return False


class _Builder:
    """Second validation pass: semantic checks while building the dataclasses."""

    def __init__(self, path: Path, doc: dict, lines: dict[tuple, int], result: ValidationResult) -> None:
        self.path, self.doc, self.lines, self.result = path, doc, lines, result
        self.names: dict[str, tuple] = {}

    def error(self, code: str, where: tuple, message: str) -> None:
        self.result.add(code, _dotted(where), message, _line_of(self.lines, where))

    def claim(self, name: str, where: tuple) -> None:
        """Register an output variable name; names must be unique across the whole schema."""
        if name in _RESERVED_NAMES:
            self.error("reserved-name", where, f"{name!r} is reserved for the event model")
        elif name in self.names:
            self.error("duplicate-name", where, f"{name!r} is already defined at {_dotted(self.names[name])}")
        else:
            self.names[name] = where

    def attrs(self, entry: Mapping[str, Any], where: tuple) -> dict[str, Any]:
        attrs = dict(entry.get("attrs", {}))
        for key in ("long_name", "units"):
            if key in entry:
                attrs[key] = entry[key]
        for key, value in attrs.items():
            if not _storable(value):
                self.error("attr-type", where + ("attrs", key),
                           f"attribute value {value!r} cannot be stored in CDF/netCDF "
                           "(use a string, a number or a non-empty list of numbers)")
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
            out.append(Field(entry["mnemonic"], name, entry["bits"], offset, entry.get("per_event", True),
                             MappingProxyType(enum), MappingProxyType(attrs)))
            offset += entry["bits"]
        if (offset - start_bit) % 8:
            self.error("bit-alignment", where, f"fields add up to {offset - start_bit} bits, not a whole number of bytes")
        return tuple(out)

    def datetime(self, text: str | None, where: tuple) -> np.datetime64 | None:
        if text is None:
            return None
        try:
            return np.datetime64(text, "ns")
        except ValueError:
            self.error("datetime", where, f"{text!r} is not an ISO date-time like 2023-10-01T00:00:00")
            return None

    def build(self) -> Schema:
        doc = self.doc
        if self.path.suffix in (".yaml", ".yml") and doc["name"] != self.path.stem:
            self.error("name", ("name",), f"{doc['name']!r} differs from the file name {self.path.name!r}: a schema "
                                          "is found by its file name, so the two must agree")
        constants = {k: float(v) for k, v in doc["constants"].items()}
        for key in constants:
            self.claim(key, ("constants", key))
        framing = doc["framing"]
        secondary = self.fields([{"mnemonic": f["name"].upper(), **f} for f in framing["secondary_header"]],
                                ("framing", "secondary_header"), PRIMARY_HEADER_BITS)
        sci = doc["science"]
        sub_start = secondary[-1].offset + secondary[-1].bits if secondary else PRIMARY_HEADER_BITS
        subheader = self.fields(sci["subheader"], ("science", "subheader"), sub_start)
        header_start = subheader[-1].offset + subheader[-1].bits if subheader else sub_start
        header = self.fields(sci["event_header"]["fields"], ("science", "event_header", "fields"), header_start)
        sub_names = {f.name for f in subheader}
        for role, name in sci["roles"].items():
            if name not in sub_names:
                self.error("unknown-name", ("science", "roles", role), f"{name!r} is not a sub-header field")
        time = doc["time"]
        sec_names = {f.name for f in secondary}
        for key in ("packet_coarse", "packet_fine"):
            if time[key] not in sec_names:
                self.error("unknown-name", ("time", key), f"{time[key]!r} is not a secondary-header field ({sorted(sec_names)})")
        known = constants.keys() | {f.name for f in (*subheader, *header) if f.name}
        event_coarse, event_fine = (self.expression(time[key], ("time", key), set(known))
                                    for key in ("event_coarse", "event_fine"))
        derived = self.derived(doc.get("derived", []), set(known))
        fields_by_name = {f.name: f for f in header if f.name}
        housekeeping = self.housekeeping(doc.get("housekeeping", []), fields_by_name)
        channels = self.channels(doc["channels"], constants, {d.name for d in derived}, sci["event_header"]["type_code"])
        valid_from = self.datetime(doc["valid_from"], ("valid_from",))
        met_epoch = self.datetime(time["met_epoch"], ("time", "met_epoch"))
        xtce = data_dir("defs") / doc["xtce"] if doc.get("xtce") else None
        if xtce is not None and not xtce.is_file():
            self.error("not-found", ("xtce",), f"{doc['xtce']!r} is not a file in {data_dir('defs')}")
        return Schema(
            name=doc["name"],
            description=doc["description"],
            source=self.path,
            xtce=xtce,
            valid_from=valid_from if valid_from is not None else np.datetime64("NaT"),
            valid_until=self.datetime(doc.get("valid_until"), ("valid_until",)),
            constants=MappingProxyType(constants),
            known_apids=frozenset(framing["known_apids"]) | {sci["apid"]},
            crc_apids=frozenset(framing["crc_apids"]),
            secondary_header=secondary,
            met_epoch=met_epoch if met_epoch is not None else np.datetime64("NaT"),
            fine_tick_s=float(time["fine_tick_s"]),
            event_coarse=event_coarse,
            event_fine=event_fine,
            packet_coarse=time["packet_coarse"],
            packet_fine=time["packet_fine"],
            science_apid=sci["apid"],
            trailer_bits=sci["trailer_bits"],
            fragment_offset_unit_bytes=sci["fragment_offset_unit_bytes"],
            roles=MappingProxyType(dict(sci["roles"])),
            subheader=subheader,
            header_type_code=sci["event_header"]["type_code"],
            header_fields=header,
            channels=MappingProxyType(channels),
            derived=derived,
            housekeeping=housekeeping,
            fits=MappingProxyType(self.fits(doc.get("fits", {}), channels)),
            mass=self.mass(doc.get("mass"), channels),
            classification=self.classification(doc.get("classification"), channels,
                                               {f.name for f in header if f.name} | {d.name for d in derived}),
            messages=self.messages(doc.get("messages"), secondary),
            cdf_global_attributes=MappingProxyType(dict(doc.get("cdf", {}).get("global_attributes", {}))),
            attrs=MappingProxyType(self.attrs(doc, ())),
        )

    def expression(self, text: str, where: tuple, known: set[str]) -> Expression:
        """Parse an expression and check that it only reads names defined so far."""
        try:
            expression = Expression(text)
        except ExpressionError as exc:
            self.error("expression", where, str(exc))
            return Expression("0")
        unknown = sorted(expression.names - known)
        if unknown:
            self.error("unknown-name", where,
                       f"{', '.join(unknown)} not defined above (fields, constants or earlier derived entries)")
        return expression

    def derived(self, entries: list[dict], known: set[str]) -> tuple[Derived, ...]:
        out = []
        for index, entry in enumerate(entries):
            here = ("derived", index)
            self.claim(entry["name"], here + ("name",))
            expression = self.expression(entry["expr"], here + ("expr",), known)
            known.add(entry["name"])
            attrs = self.attrs(entry, here)
            enum = self.enumeration(entry, here, attrs)
            dtype = np.dtype(entry["dtype"]) if "dtype" in entry else None
            out.append(Derived(entry["name"], expression, dtype, MappingProxyType(enum), MappingProxyType(attrs)))
        return tuple(out)

    def housekeeping(self, entries: list[dict], fields: Mapping[str, Field]) -> tuple[Housekeeping, ...]:
        out = []
        used: dict[str, dict[int, tuple[str, set[int]]]] = {}  # word -> housekeeping index -> (name, bits)
        for index, entry in enumerate(entries):
            here = ("housekeeping", index)
            self.claim(entry["name"], here + ("name",))
            word = fields.get(entry["word"])
            if word is None:
                self.error("unknown-name", here + ("word",), f"{entry['word']!r} is not an event-header field")
            elif entry["lsb"] + entry["bits"] > word.bits:
                self.error("bit-range", here, f"bits {entry['lsb']}..{entry['lsb'] + entry['bits'] - 1} "
                           f"exceed the {word.bits}-bit word {entry['word']!r}")
            bits = set(range(entry["lsb"], entry["lsb"] + entry["bits"]))
            for other, (other_name, other_bits) in used.get(entry["word"], {}).items():
                if bits & other_bits:
                    self.error("bit-range", here, f"bits {min(bits & other_bits)}..{max(bits & other_bits)} of "
                               f"{entry['word']!r} are also read by housekeeping[{other}] ({other_name})")
            used.setdefault(entry["word"], {})[index] = (entry["name"], bits)
            attrs = self.attrs(entry, here)
            enum = self.enumeration(entry, here, attrs)
            lookup = entry.get("lookup")
            if lookup and len(lookup["raw"]) != len(lookup["value"]):
                self.error("lookup", here + ("lookup",), "raw and value lists differ in length")
            if lookup and np.any(np.diff(lookup["raw"]) <= 0):
                self.error("lookup", here + ("lookup", "raw"), "raw values must increase strictly")
            conversion = Conversion(
                polynomial=tuple(entry["polynomial"]) if "polynomial" in entry else None,
                enumeration=MappingProxyType(enum) if enum else None,
                lookup=(tuple(lookup["raw"]), tuple(lookup["value"])) if lookup else None,
            )
            out.append(Housekeeping(entry["name"], entry["word"], entry["lsb"], entry["bits"], conversion,
                                    MappingProxyType(attrs)))
        return tuple(out)

    def messages(self, entry: dict | None, secondary: tuple[Field, ...]) -> MessageSpec | None:
        if entry is None:
            return None
        start = secondary[-1].offset + secondary[-1].bits if secondary else PRIMARY_HEADER_BITS
        fields = self.fields(entry["fields"], ("messages", "fields"), start, claim=False)
        names = {f.name for f in fields}
        for role in ("coarse", "fine", "id"):
            if entry[role] not in names:
                self.error("unknown-name", ("messages", role), f"{entry[role]!r} is not a message field")
        dictionaries = data_dir("defs") / entry["dictionaries"]
        if not dictionaries.is_file():
            self.error("not-found", ("messages", "dictionaries"), f"{entry['dictionaries']!r} is not in defs/")
        return MessageSpec(entry["apid"], fields, entry["coarse"], entry["fine"], entry["id"], dictionaries)

    def classification(self, entry: dict | None, channels: Mapping[str, Channel],
                       values: set[str]) -> ClassificationSpec | None:
        if entry is None:
            return None
        here = ("classification",)
        for key, name in (("trigger_id", entry["trigger_id"]), ("pulser", entry["pulser"]["threshold_field"]),
                          *(("trigger_modes", mode) for mode in entry["trigger_modes"].values())):
            if name not in values:
                self.error("unknown-name", here + (key,), f"{name!r} is not a header field or derived value")
        dust = entry["dust"]
        for key, names in (("trigger_bits", entry["trigger_bits"]), ("trigger_modes", entry["trigger_modes"]),
                           ("dust", dust["channels"])):
            for name in names:
                if name not in channels:
                    self.error("unknown-name", here + (key,), f"{name!r} is not a channel")
        gains = len(dust["channels"])
        if len(dust["reference_baseline_dn"]) != gains or len(dust["reference_sigma_dn"]) != gains:
            self.error("dimension", here + ("dust",), f"one reference baseline and sigma per channel ({gains})")
        return ClassificationSpec(
            entry["trigger_id"], MappingProxyType(dict(entry["trigger_bits"])), tuple(entry["software_bits"]),
            MappingProxyType(dict(entry["trigger_modes"])), entry["pulser"]["channel"], entry["pulser"]["mode"],
            entry["pulser"]["threshold_field"], entry["pulser"]["threshold"], float(entry["saturation_fraction"]),
            DustSpec(tuple(dust["channels"]), *(float(dust[k]) for k in ("baseline_us", "height_sigma",
                     "prominence_sigma", "distance_us", "min_width_us")), int(dust["min_peaks"]),
                     float(dust["single_peak_width_us"]), float(dust["match_us"]),
                     tuple(float(v) for v in dust["reference_baseline_dn"]),
                     tuple(float(v) for v in dust["reference_sigma_dn"]), float(dust["truncation_dn"])))

    def mass(self, entry: dict | None, channels: Mapping[str, Channel]) -> MassSpec | None:
        if entry is None:
            return None
        if entry["channel"] not in channels:
            self.error("unknown-name", ("mass", "channel"), f"{entry['channel']!r} is not a channel")
        if not (data_dir("defs") / entry["lines"]).is_file():
            self.error("not-found", ("mass", "lines"), f"{entry['lines']!r} is not a file in {data_dir('defs')}")
        low, high = entry["stretch_us_per_sqrt_u"]
        if low >= high:
            self.error("bounds", ("mass", "stretch_us_per_sqrt_u"), f"{low} is not below {high}")
        return MassSpec(entry["channel"], entry["lines"], (float(low), float(high)),
                        tuple(float(v) for v in entry["shift_from_trigger_us"]),
                        float(entry.get("baseline_before_trigger_us", -0.5)),
                        float(entry.get("match_tolerance_us", 0.1)))

    def fits(self, entries: Mapping[str, dict], channels: Mapping[str, Channel]) -> dict[str, FitSpec]:
        return fit_specs(entries, set(channels), lambda code, where, message: self.error(code, ("fits",) + where,
                                                                                           message))

    def channels(self, entries: Mapping[str, dict], constants: Mapping[str, float], derived: set[str],
                 header_code: int) -> dict[str, Channel]:
        out: dict[str, Channel] = {}
        codes: dict[int, str] = {header_code: "the event header"}
        dims: dict[str, tuple[int, float, str]] = {}
        for name, entry in entries.items():
            here = ("channels", name)
            self.claim(name, here)
            if entry["type_code"] in codes:
                self.error("duplicate-code", here + ("type_code",),
                           f"type code {entry['type_code']} is already used by {codes[entry['type_code']]}")
            codes[entry["type_code"]] = f"channel {name!r}"
            if entry["sample_bits"] * entry["samples_per_word"] > entry["word_bits"]:
                self.error("bit-range", here, f"{entry['samples_per_word']} samples of {entry['sample_bits']} bits "
                           f"do not fit a {entry['word_bits']}-bit word")
            rate = entry["sample_rate_mhz"]
            if isinstance(rate, str):
                if rate not in constants:
                    self.error("unknown-name", here + ("sample_rate_mhz",), f"{rate!r} is not a constant")
                rate = constants.get(rate, math.nan)
            if entry["trigger_time"] not in derived:
                self.error("unknown-name", here + ("trigger_time",), f"{entry['trigger_time']!r} is not a derived entry")
            axis = (entry["n_samples"], float(rate), entry["time"])
            if dims.setdefault(entry["dim"], axis) != axis:
                self.error("dimension", here, f"dimension {entry['dim']!r} is shared with channels of a different "
                           "length, rate or time coordinate")
            out[name] = Channel(name, entry["type_code"], entry["sample_bits"], entry["samples_per_word"],
                                entry["word_bits"], entry["n_samples"], entry.get("drop_trailing", 0), float(rate),
                                entry["dim"], entry["time"], entry["trigger_time"], entry.get("fill_value", 65535),
                                entry.get("compressed_samples"), entry.get("calibration", {}).get("factor"),
                                entry.get("calibration", {}).get("units"), MappingProxyType(self.attrs(entry, here)))
            if entry.get("compressed_samples", entry["n_samples"]) < entry["n_samples"]:
                self.error("bit-range", here + ("compressed_samples",),
                           f"a compressed record of {entry['compressed_samples']} samples cannot fill "
                           f"n_samples = {entry['n_samples']}")
        for dim, (_, _, time) in dims.items():
            self.claim(time, ("channels", f"<time coordinate of {dim}>"))
        return out
