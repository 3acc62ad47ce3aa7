"""The defaults of optional schema keys, read from ``schemas/_meta.schema.json`` (written there once).

A key the meta-schema gives a ``default`` may be left out of a schema file; the builders fill it from here
instead of repeating the value in Python.

>>> section_defaults("channels")["fill_value"]
65535
>>> section_defaults("mass")["match_tolerance_us"]
0.1
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any

from idex.resources import data_dir

__all__ = ["meta_schema", "section_defaults", "with_defaults"]


@lru_cache(maxsize=1)
def meta_schema() -> Mapping[str, Any]:
    """The parsed meta-schema, ``schemas/_meta.schema.json`` (read once per process)."""
    return json.loads((data_dir("schemas") / "_meta.schema.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def section_defaults(section: str) -> Mapping[str, Any]:
    """The ``default`` of each optional key of one entry of a top-level section.

    Parameters
    ----------
    section : str
        A top-level key of a schema: ``channels`` and ``fits`` (mappings of name -> entry) or ``mass`` (one entry).

    Returns
    -------
    Mapping
        Key -> default value, for the keys the meta-schema gives one.
    """
    node = meta_schema()["properties"][section]
    entry = node.get("additionalProperties") if isinstance(node.get("additionalProperties"), dict) else node
    return MappingProxyType(
        {key: spec["default"] for key, spec in entry.get("properties", {}).items() if "default" in spec}
    )


def with_defaults(section: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with the meta-schema's defaults of ``section`` filled in where a key is absent."""
    return {**section_defaults(section), **entry}
