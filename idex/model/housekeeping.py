"""Housekeeping: split packed header words into ADC channels and convert them to engineering units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from idex.schema import Schema

__all__ = ["convert_housekeeping"]


def convert_housekeeping(
    header: Mapping[str, np.ndarray], has_header: np.ndarray, schema: Schema
) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Apply every ``housekeeping`` entry of ``schema`` to the decoded header words.

    Parameters
    ----------
    header : mapping of str to numpy.ndarray
        Raw event-header fields by name.
    has_header : numpy.ndarray
        False for events whose header is missing; their values become NaN.
    schema : Schema
        Declares word, bit range and conversion of each channel.

    Returns
    -------
    dict
        ``name -> (values, attrs)``. Polynomial and lookup conversions give ``float64`` in the
        declared units; enumerations keep the raw integer with CF ``flag_values``/``flag_meanings``.
    """
    out = {}
    for item in schema.housekeeping:
        word = header[item.word].astype(np.uint64)
        raw = (word >> np.uint64(item.lsb)) & np.uint64((1 << item.bits) - 1)
        values = item.conversion.apply(raw)
        if values.dtype.kind == "f":
            values = np.where(has_header, values, np.nan)
        else:
            values = values.astype(np.min_scalar_type((1 << item.bits) - 1))
        attrs = {**item.attrs, "source_word": item.word, "source_bits": f"{item.lsb + item.bits - 1}:{item.lsb}"}
        if item.conversion.polynomial is not None:
            attrs["polynomial_coefficients"] = list(item.conversion.polynomial)
        out[item.name] = (values, attrs)
    return out
