"""Report the byte ranges of a capture that did not frame as packets, each with its offset and the events around it."""

from __future__ import annotations

import numpy as np

from idex.decode.fields import extract
from idex.decode.framing import GAP_TRUNCATED, Framing
from idex.decode.problems import Reporter
from idex.schema import Schema

__all__ = ["report_gaps"]


def report_gaps(buffer: np.ndarray, framing: Framing, apids: np.ndarray, schema: Schema, report: Reporter) -> None:
    """Report every byte range that did not frame, with its offset and the events whose packets surround it."""
    science = np.flatnonzero(apids == schema.science_apid)
    long_enough = science[(framing.ends[science] - framing.starts[science]) >= schema.payload_offset]
    numbers = extract(buffer, framing.starts[long_enough], schema.subheader_field("event_number"))
    for start, stop, kind in zip(framing.gap_starts, framing.gap_ends, framing.gap_kinds, strict=True):
        before = np.searchsorted(framing.starts[long_enough], start) - 1
        after = np.searchsorted(framing.starts[long_enough], stop)
        around = sorted({int(numbers[i]) for i in (before, after) if 0 <= i < numbers.size})
        where = f" (between science packets of event {' and '.join(map(str, around))})" if around else ""
        if kind == GAP_TRUNCATED:
            report(
                f"last packet is truncated: {stop - start} bytes remain of the length its header announces; "
                f"skipped{where}",
                offset=int(start),
            )
        else:
            report(
                f"{stop - start} bytes do not frame as packets (garbage or corrupted length field); skipped{where}",
                offset=int(start),
            )
