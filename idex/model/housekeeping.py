"""Housekeeping: split packed header words into ADC channels and convert them to engineering units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from idex.schema import Schema

__all__ = ["convert_housekeeping"]


def convert_housekeeping(
    header: Mapping[str, np.ndarray], schema: Schema
) -> list[tuple[str, np.ndarray, Any, dict[str, Any]]]:
    """Apply every ``housekeeping`` entry of ``schema`` to the decoded header words.

    Parameters
    ----------
    header : mapping of str to numpy.ndarray
        Raw event-header fields by name, for the events that have a header packet.
    schema : Schema
        Declares word, bit range and conversion of each channel.

    Returns
    -------
    list
        ``(name, values, fill, attrs)``: the values of the events in ``header`` and the value of an event without
        a header packet (NaN for conversions to ``float64`` in the declared units; enumerations keep the raw
        integer, with CF ``flag_values``/``flag_meanings``, so their fill is the conversion of the word's fill).
    """
    out = []
    for item in schema.housekeeping:
        word = header[item.word]
        words = np.append(word, np.iinfo(word.dtype).max).astype(np.uint64)  # and the word of a missing header
        raw = (words >> np.uint64(item.lsb)) & np.uint64((1 << item.bits) - 1)
        values = item.conversion.apply(raw)
        if values.dtype.kind != "f":
            values = values.astype(np.min_scalar_type((1 << item.bits) - 1))
        fill = np.nan if values.dtype.kind == "f" else values[-1]
        attrs = {**item.attrs, "source_word": item.word, "source_bits": f"{item.lsb + item.bits - 1}:{item.lsb}"}
        if item.conversion.polynomial is not None:
            attrs["polynomial_coefficients"] = list(item.conversion.polynomial)
        out.append((item.name, values[:-1], fill, attrs))
    return out
