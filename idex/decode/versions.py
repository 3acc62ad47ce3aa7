"""Captures holding two packet versions: which schema decodes which event, and flags for a forced one.

A daily file that spans a flight-software update holds events of two header layouts. The layouts the
bits allow (event-header packet length) are tried first; among those, every event takes the schema whose
validity covers its own time (the sub-header event time, which all packets of one event share, so an
event is never split between schemas). Events dated outside every allowed schema keep the capture's
schema (:func:`idex.decode.raw.choose_schema`), which reports it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex.decode.fields import extract
from idex.decode.problems import Reporter
from idex.model.quality import QualityFlag
from idex.model.timing import met_to_utc
from idex.schema import Schema

__all__ = ["flag_outside_validity", "schema_per_packet"]


def schema_per_packet(
    buffer: np.ndarray, starts: np.ndarray, allowed: list[Schema], chosen: Schema
) -> tuple[list[Schema], np.ndarray]:
    """The schema of each science packet ``buffer[starts[i]:]`` (the capture's ``chosen`` where no date decides).

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture.
    starts : numpy.ndarray
        Byte offsets of the science packets (long enough for their sub-header).
    allowed : list of Schema
        The schemas the capture's bits allow.
    chosen : Schema
        The capture's schema, chosen from its first science packet.

    Returns
    -------
    list of Schema, numpy.ndarray
        The schemas used (``chosen`` first) and, per packet, the position of its schema in that list.
    """
    field = chosen.subheader_field("event_time")
    seconds = extract(buffer, starts, field)
    when = met_to_utc(seconds, np.zeros_like(seconds), epoch=chosen.met_epoch, fine_tick_s=chosen.fine_tick_s)
    options = [chosen, *sorted((s for s in allowed if s is not chosen), key=lambda s: s.valid_from)[::-1]]
    unique, inverse = np.unique(when, return_inverse=True)
    by_time = np.array(
        [
            0 if np.isnat(t) or chosen.covers(t) else next((i for i, s in enumerate(options) if s.covers(t)), 0)
            for t in unique
        ],
        dtype=np.int64,
    )
    which = by_time[inverse.ravel()]
    used = sorted(set(which.tolist()))
    return [options[i] for i in used], np.searchsorted(used, which)


def flag_outside_validity(events: xr.Dataset, given: Schema, others: list[Schema], report: Reporter) -> None:
    """Flag (``SCHEMA_MISMATCH``) and report events a caller-given schema does not cover but another schema does."""
    flags = events["quality_flags"].values
    for row, (number, epoch) in enumerate(zip(events["event"].values, events["epoch"].values, strict=True)):
        if np.isnat(epoch) or given.covers(epoch):
            continue
        fitting = [s.name for s in others if s.name != given.name and s.covers(epoch)]
        if fitting:
            flags[row] |= np.uint16(QualityFlag.SCHEMA_MISMATCH)
            report(
                f"event dated {np.datetime_as_string(epoch, unit='s')} lies outside the validity of the given "
                f"schema {given.name} and inside that of {', '.join(fitting)}: its header fields and trigger times "
                f"may be wrong (decode without schema= to let each event take its own)",
                event=int(number),
            )
