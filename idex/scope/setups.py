"""Scope setups: which LeCroy channel is which detector, its gain and polarity, file naming, cleaning and
fit declarations, pickup-tube geometry and database table, from ``schemas/scope/*.yaml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from idex._typing import PathLike
from idex.exceptions import SchemaError, ValidationResult
from idex.resources import data_dir, read_yaml
from idex.schema import FitSpec, fit_specs, registered_name, schema_dirs

__all__ = ["ScopeChannel", "ScopeSetup", "load_setup", "setup_of"]


@dataclass(frozen=True)
class ScopeChannel:
    """One scope input: which detector it is and how volts become physical units."""

    name: str
    scope_channel: str
    gain: float
    units: str
    polarity: int
    long_name: str


@dataclass(frozen=True)
class ScopeSetup:
    """A validated scope setup (see ``schemas/scope/idex_dust_accelerator.yaml``)."""

    name: str
    description: str
    file_pattern: re.Pattern[str]
    shot_tolerance_s: float
    channels: Mapping[str, ScopeChannel]
    background: Mapping[str, Mapping[str, Any]]
    fits: Mapping[str, FitSpec]
    qd: Mapping[str, Any] | None
    database: Mapping[str, Any] | None

    @property
    def by_scope_channel(self) -> dict[str, ScopeChannel]:
        """Setup channels keyed by scope input (``C1``..``C4``)."""
        return {c.scope_channel: c for c in self.channels.values()}


def load_setup(setup: str | PathLike = "idex_dust_accelerator") -> ScopeSetup:
    """Load a scope setup by name (``schemas/scope/<name>.yaml`` or ``$IDEX_SCHEMA_PATH/scope/``) or path."""
    text = str(setup)
    path = Path(text)
    if not text.endswith((".yaml", ".yml")):
        candidates = [folder / "scope" / f"{text}.yaml" for folder in schema_dirs()]
        path = next((c for c in candidates if c.is_file()), candidates[-1])
    result = ValidationResult(str(path))
    if not path.is_file():
        shipped = sorted(p.stem for p in (data_dir("schemas") / "scope").glob("*.yaml"))
        result.add("not-found", "", f"no such scope setup; shipped setups are: {shipped}")
        raise SchemaError(result)
    doc = read_yaml(path)
    for key in ("schema", "name", "file_pattern", "channels"):
        if key not in doc:
            result.add("structure", key, "required key is missing")
    if not result.ok:
        raise SchemaError(result)
    channels = {}
    for name, entry in doc["channels"].items():
        missing = [k for k in ("scope_channel", "gain", "units") if k not in entry]
        if missing:
            result.add("structure", f"channels.{name}", f"missing {missing}")
            continue
        channels[name] = ScopeChannel(
            name,
            entry["scope_channel"],
            float(entry["gain"]),
            entry["units"],
            int(entry.get("polarity", 1)),
            entry.get("long_name", name),
        )
    try:
        pattern = re.compile(doc["file_pattern"])
        if not {"channel", "shot"} <= set(pattern.groupindex):
            result.add("pattern", "file_pattern", "needs the named groups (?P<channel>...) and (?P<shot>...)")
    except re.error as exc:
        result.add("pattern", "file_pattern", f"not a regular expression: {exc}")
        pattern = re.compile("$^")
    fits = fit_specs(
        doc.get("fits", {}),
        set(channels),
        lambda code, where, message: result.add(code, ".".join(map(str, ("fits",) + where)), message),
    )
    qd = doc.get("qd")
    if qd is not None and qd.get("channel") not in channels:
        result.add("unknown-name", "qd.channel", f"{qd.get('channel')!r} is not a channel")
    if qd is not None and not _is_range(qd.get("velocity_range_kms")):
        result.add(
            "structure",
            "qd.velocity_range_kms",
            "needs [slowest, fastest] km/s the accelerator can give a "
            "grain (the QD fit is bounded to it), with 0 < slowest < fastest",
        )
    if not result.ok:
        raise SchemaError(result)
    return ScopeSetup(
        doc["name"],
        doc.get("description", ""),
        pattern,
        float(doc.get("shot_tolerance_s", 1.0)),
        MappingProxyType(channels),
        MappingProxyType(doc.get("background", {})),
        MappingProxyType(fits),
        MappingProxyType(qd) if qd else None,
        MappingProxyType(doc["database"]) if doc.get("database") else None,
    )


def setup_of(ds: Any) -> ScopeSetup:
    """The scope setup a dataset's ``idex_scope_setup`` attribute names: a shipped or registered one only.

    Raises
    ------
    SchemaError
        When the attribute names no such setup (a path, say): in one line that does not repeat it.
    """
    return load_setup(registered_name(ds.attrs.get("idex_scope_setup"), "idex_scope_setup", kind="scope"))


def _is_range(value: object) -> bool:
    """True for ``[low, high]`` with ``0 < low < high``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
        and 0 < value[0] < value[1]
    )
