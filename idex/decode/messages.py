"""Instrument event messages (the IDEX log, APID 1418): fields, times and readable text.

The text comes from the mission's dictionaries (``defs/idex_evt_msg_parsing_dictionaries.json``):
a template per message id whose placeholders are either ``{p0:02x}`` (a parameter byte, Python format)
or ``{p0+2|dictName}`` (2 bytes from parameter 0, big-endian, looked up in a named dictionary).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr

from idex.decode.fields import extract
from idex.model.timing import met_to_utc
from idex.schema import Schema

__all__ = ["decode_messages", "message_text"]

_PLACEHOLDER = re.compile(r"\{p(\d)(?:\+(\d))?(?:\|(\w+))?(?::([^}]*))?\}")


@lru_cache(maxsize=4)
def _dictionaries(path: Path) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text(encoding="utf-8"))


def message_text(message_id: int, parameters: list[int], dictionaries: dict[str, dict[str, str]]) -> str:
    """The readable text of one message (the template itself where a value is not in its dictionary).

    Examples
    --------
    >>> message_text(5, [1, 2, 3, 4], {"eventMsgDictionary": {"5": "mode {p0+1|modes}, code 0x{p1:02x}"},
    ...                                "modes": {"1": "BOOT"}})
    'mode BOOT, code 0x02'
    """
    template = dictionaries["eventMsgDictionary"].get(str(message_id))
    if template is None:
        return f"unknown message id {message_id} (parameters {parameters})"

    def fill(match: re.Match[str]) -> str:
        first, width, table, spec = int(match[1]), int(match[2] or 1), match[3], match[4]
        value = int.from_bytes(bytes(parameters[first : first + width]), "big")
        if table:
            return dictionaries.get(table, {}).get(str(value), f"{table}[{value}]")
        return format(value, spec or "d")

    return _PLACEHOLDER.sub(fill, template)


def decode_messages(buffer: np.ndarray, starts: np.ndarray, schema: Schema) -> xr.Dataset:
    """Decode the event-message packets starting at ``starts`` into a Dataset on a ``message`` axis."""
    spec = schema.messages
    assert spec is not None
    values = {f.name: extract(buffer, starts, f) for f in spec.fields if f.name}
    dictionaries = _dictionaries(spec.dictionaries)
    parameters = [name for name in values if name not in (spec.coarse, spec.fine, spec.id)][-4:]
    names = dictionaries.get("logEntryIdDictionary", {})
    ids = values[spec.id]
    texts = [message_text(int(i), [int(values[p][row]) for p in parameters], dictionaries) for row, i in enumerate(ids)]
    data = {
        name: ("message", array, {**{k: v for k, v in next(f for f in spec.fields if f.name == name).attrs.items()}})
        for name, array in values.items()
    }
    data["message_name"] = (
        "message",
        np.array([names.get(str(int(i)), f"id {int(i)}") for i in ids], dtype=object),
        {"long_name": "Log entry name"},
    )
    data["message_text"] = ("message", np.array(texts, dtype=object), {"long_name": "Message text"})
    epoch = met_to_utc(values[spec.coarse], values[spec.fine], epoch=schema.met_epoch, fine_tick_s=schema.fine_tick_s)
    return xr.Dataset(
        data,
        coords={"epoch": ("message", epoch, {"long_name": "Message time (UTC)"})},
        attrs={"description": f"Instrument event messages (APID {spec.apid})"},
    )
