"""Which packet schema a capture was written with: the event-header length its bits show, then the date of its first
science packet against each schema's validity (the way mission ancillary files carry validity ranges)."""

from __future__ import annotations

import numpy as np

from idex.decode.fields import extract, extract_bits
from idex.decode.problems import Reporter
from idex.model.timing import met_to_utc
from idex.schema import Schema
from idex.schema.ccsds import LENGTH_BIAS, PRIMARY_HEADER, PRIMARY_HEADER_BYTES

__all__ = ["choose_schema", "header_lengths"]


def choose_schema(
    buffer: np.ndarray, starts: np.ndarray, apids: np.ndarray, candidates: list[Schema], report: Reporter | None = None
) -> tuple[Schema, str]:
    """Pick the schema of a capture: content evidence first, then the date among the schemas the bits allow.

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture.
    starts, apids : numpy.ndarray
        Byte offset and APID of every packet.
    candidates : list of Schema
        Schemas to choose from.
    report : Reporter, optional
        Receives a warning when no schema fits the bits or the capture's date lies outside the
        validity of every schema that does.

    Returns
    -------
    Schema, str
        The schema and the evidence for it, in words (kept in the tree's ``idex_schema_choice``).

    The bits tell layouts apart where they can: a schema is allowed when the capture's event-header
    packets have the length its header fields and trailer make. The two published versions share that
    length (and ``IDX__SCI0VER``, flight-software and FPGA versions), so between them the date of the
    first science packet decides, the way mission ancillary files carry validity ranges.
    """
    lengths = header_lengths(buffer, starts, apids, candidates)
    allowed = [s for s in candidates if not lengths or s.header_packet_bytes in lengths]
    seen = f"event-header packets of {', '.join(map(str, sorted(lengths)))} bytes" if lengths else "no event header"
    if not allowed:
        expected = ", ".join(f"{s.name}: {s.header_packet_bytes}" for s in candidates)
        if report is not None:
            report(f"{seen} fit no schema (expected {expected}); header fields may be mis-decoded")
        allowed = candidates
    when = _first_science_time(buffer, starts, apids, allowed)
    # newest first; among schemas valid from the same date the later-listed one, as the overlap warning says
    dated = sorted(allowed, key=lambda s: s.valid_from)[::-1]
    covering = [s for s in dated if when is not None and s.covers(when)]
    chosen = covering[0] if covering else dated[0]
    stamp = np.datetime_as_string(when, unit="s") if when is not None else "no science packet"
    if not covering and report is not None and when is not None:
        windows = "; ".join(f"{s.name} {_window(s)}" for s in dated)
        report(
            f"the first science packet is dated {stamp}, outside the validity of every schema that fits its bits "
            f"({windows}); decoded with the newest, {chosen.name} (pass schema= to choose)"
        )
    evidence = (
        f"{chosen.name}: {seen} allow {', '.join(s.name for s in allowed)}; first science packet dated "
        f"{stamp}, {'inside' if covering else 'outside'} its validity {_window(chosen)}"
    )
    return chosen, evidence


def header_lengths(buffer: np.ndarray, starts: np.ndarray, apids: np.ndarray, candidates: list[Schema]) -> set[int]:
    """Lengths of the capture's event-header packets (science packets whose type is the header's)."""
    lengths: set[int] = set()
    for schema in candidates:
        science = np.flatnonzero(apids == schema.science_apid)
        length = extract_bits(buffer, starts[science], *PRIMARY_HEADER["packet_length"])
        size = PRIMARY_HEADER_BYTES + LENGTH_BIAS + length  # bytes of each science packet
        field = schema.subheader_field("packet_type")
        typed = size * 8 >= field.offset + field.bits
        kind = extract(buffer, starts[science[typed]], field)
        lengths |= {int(v) for v in size[typed][kind == schema.header_type_code]}
    return lengths


def _first_science_time(
    buffer: np.ndarray, starts: np.ndarray, apids: np.ndarray, candidates: list[Schema]
) -> np.datetime64 | None:
    schema = candidates[0]
    first = np.flatnonzero(apids == schema.science_apid)
    if first.size == 0:
        return None
    coarse, fine = schema.packet_time_fields
    return met_to_utc(
        extract_bits(buffer, starts[first[:1]], coarse.offset, coarse.bits),
        extract_bits(buffer, starts[first[:1]], fine.offset, fine.bits),
        epoch=schema.met_epoch,
        fine_tick_s=schema.fine_tick_s,
    )[0]


def _window(schema: Schema) -> str:
    end = np.datetime_as_string(schema.valid_until, unit="D") if schema.valid_until is not None else "open"
    return f"[{np.datetime_as_string(schema.valid_from, unit='D')} .. {end})"
