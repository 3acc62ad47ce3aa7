"""Group science packets into events and assemble each event's header and waveforms.

An event is identified by its (event time, event number) pair from the science sub-header, which
every packet of the event carries, so assembly does not depend on arrival order: reordered
captures give the same events. Within a channel, fragments are placed by their fragment offset.
Compressed channels (sub-header compression flag set) are Rice-decoded (:mod:`idex.decode.rice`) after
their fragments are assembled. Every irregularity is reported (byte offset and event) and recorded in the event's
quality flags:

========================================  ==========================================================
what                                      outcome
========================================  ==========================================================
no header packet                          ``MISSING_HEADER``; header fields hold their fill value (no value
                                          is stored for such events: :func:`idex.model.waveform_rows.event_column`)
channel without packets                   ``MISSING_CHANNEL``; samples hold the channel fill value (filled
                                          lazily when most events lack it: :mod:`idex.model.waveform_rows`;
                                          rows holding under half a record of words stay packed until read)
missing/short fragment, odd payload size  ``TRUNCATED``; uncovered samples hold the fill value
same fragment twice, same bytes           ``DUPLICATE_PACKET``; one copy kept
same fragment twice, different bytes      ``CONFLICTING_FRAGMENT``; the last arrival kept
CRC-16 mismatch                           ``CRC_MISMATCH``; content kept
compressed payload that fails to decode   ``BAD_COMPRESSION``; samples hold the fill value
compressed and plain fragments mixed      ``CONFLICTING_FRAGMENT``; the plain ones are ignored
unknown packet type code                  reported and skipped
event none of whose packets is usable     no event is made (one message counts them)
========================================  ==========================================================

A message that recurs word for word (``no tof_low packet``...) is reported for its first few events and then
once more with the number of the others, which its quality flag marks: a stream of damaged events costs no
report per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from idex.decode import rice
from idex.decode.fields import extract
from idex.decode.problems import Reporter
from idex.decode.waveform import PackedRows, unpack_fragments
from idex.model.dataset import ScienceEvents
from idex.model.quality import QualityFlag
from idex.model.waveform_rows import WaveformRows, rows_to_store
from idex.schema import Channel, Schema

__all__ = ["assemble_events"]

_LISTED = 10  # the same message (flag) is reported this many times one by one; one more line counts the others


def assemble_events(
    buffer: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    crc_ok: np.ndarray,
    schema: Schema,
    report: Reporter,
) -> ScienceEvents:
    """Assemble the science packets ``buffer[starts[i]:ends[i]]`` (in arrival order) into events.

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture (``uint8``).
    starts, ends : numpy.ndarray
        Byte range of each science packet, in arrival order.
    crc_ok : numpy.ndarray
        Result of the CRC check of each packet.
    schema : Schema
        Packet layout.
    report : Reporter
        Receives every problem.

    Returns
    -------
    ScienceEvents
    """
    trailer = schema.trailer_bits // 8
    long_enough = (ends - starts) >= schema.payload_offset + trailer
    for i in np.flatnonzero(~long_enough):
        report(
            f"science packet of {ends[i] - starts[i]} bytes is too short for its sub-header; skipped",
            offset=int(starts[i]),
        )
    starts, ends, crc_ok = starts[long_enough], ends[long_enough], crc_ok[long_enough]

    sub = {f.name: extract(buffer, starts, f) for f in schema.subheader if f.name}
    number_field = schema.subheader_field("event_number")
    packet_type = sub[schema.roles["packet_type"]].astype(np.int64)
    number = sub[schema.roles["event_number"]]
    key = sub[schema.roles["event_time"]].astype(np.uint64) << np.uint64(number_field.bits) | number.astype(np.uint64)
    usable = _usable_packets(starts, ends, packet_type, number, schema, report)
    with_usable = np.isin(key, key[usable])
    if not with_usable.all():  # such an event would be a row of fill values costing a full record per channel
        report(
            f"{np.unique(key[~with_usable]).size} events have no usable packet (their "
            f"{np.count_nonzero(~with_usable)} packets were skipped, each reported); no event is made of them"
        )
        starts, ends, crc_ok, key, number = (a[with_usable] for a in (starts, ends, crc_ok, key, number))
        sub = {name: values[with_usable] for name, values in sub.items()}
        packet_type = packet_type[with_usable]
    _, first, rows = np.unique(key, return_index=True, return_inverse=True)
    n_events = first.size
    quality = np.zeros(n_events, dtype=np.uint16)
    event_number = number[first]
    skip = (schema.secondary_header[-1].offset + schema.secondary_header[-1].bits) // 8
    context = _Context(buffer, starts, ends, rows, event_number, quality, report, skip, trailer)

    for i in np.flatnonzero(~crc_ok):
        context.flag(int(i), QualityFlag.CRC_MISMATCH, "packet failed its CRC-16 check; content kept")

    header_rows = _header_packets(context, packet_type == schema.header_type_code, schema.header_end + trailer)
    has_header = header_rows >= 0
    source = np.where(has_header, header_rows, first)
    fragment_offsets = sub[schema.roles["fragment_offset"]].astype(np.int64)
    compressed = sub[schema.roles["compressed"]] != 0
    waveforms = {
        channel.name: _channel(
            context, channel, np.flatnonzero(packet_type == channel.type_code), fragment_offsets, compressed, schema
        )
        for channel in schema.channels.values()
    }
    header_starts = starts[header_rows[has_header]]  # only the events that have a header cost its fields
    header = {f.name: extract(buffer, header_starts, f) for f in schema.header_fields if f.name}
    context.tell_repeats()
    coarse_field, fine_field = schema.packet_time_fields
    return ScienceEvents(
        has_header=has_header,
        packet_coarse=extract(buffer, starts[source], coarse_field),
        packet_fine=extract(buffer, starts[source], fine_field),
        subheader={f.name: sub[f.name][source] for f in schema.subheader if f.name and f.per_event},
        header=header,
        waveforms=waveforms,
        quality=quality,
    )


def _usable_packets(
    starts: np.ndarray, ends: np.ndarray, packet_type: np.ndarray, number: np.ndarray, schema: Schema, report: Reporter
) -> np.ndarray:
    """Per packet: False (reported as skipped) for unknown packet types and header packets too short to decode."""
    known = np.isin(packet_type, [schema.header_type_code, *schema.channel_by_type])
    for i in np.flatnonzero(~known):
        report(
            f"science packet type {packet_type[i]} is not in schema {schema.name!r}; skipped",
            offset=int(starts[i]),
            event=int(number[i]),
        )
    min_bytes = schema.header_end + schema.trailer_bits // 8
    short = (packet_type == schema.header_type_code) & (ends - starts < min_bytes)
    message = f"event-header packet is shorter than {min_bytes} bytes; skipped"
    for i in np.flatnonzero(short):
        report(message, offset=int(starts[i]), event=int(number[i]))
    return known & ~short


@dataclass(frozen=True)
class _Context:
    """What the assembly steps share: the packets, their event rows, and the flag/report sink."""

    buffer: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    rows: np.ndarray
    event_number: np.ndarray
    quality: np.ndarray
    report: Reporter
    skip: int
    trailer: int
    told: dict[str, int] = field(default_factory=dict)

    def flag(self, packet: int, flag: QualityFlag, message: str | None) -> None:
        """Set ``flag`` on the event of ``packet`` and report ``message`` (if any) at its offset."""
        row = self.rows[packet]
        self.quality[row] |= np.uint16(flag)
        if message:
            self.tell(message, offset=int(self.starts[packet]), event=int(self.event_number[row]))

    def tell(self, message: str, *, offset: int = -1, event: int = -1) -> None:
        """Report ``message`` unless it was already reported ``_LISTED`` times (then it is only counted)."""
        told = self.told.get(message, 0)
        self.told[message] = told + 1
        if told < _LISTED:
            self.report(message, offset=offset, event=event)

    def tell_repeats(self) -> None:
        """One line for each message reported only ``_LISTED`` times, with the number of the others."""
        for message, count in self.told.items():
            if count > _LISTED:
                self.report(
                    f"{message} ({count} times in all: {count - _LISTED} more than listed one by one; "
                    "their quality flags mark them)"
                )

    def same_content(self, a: int, b: int) -> bool:
        """True when packets ``a`` and ``b`` carry the same sub-header and data.

        Retransmitted copies differ in their primary and secondary headers (sequence count, send
        time) and hence in their CRC, so those are left out of the comparison.
        """
        first = self.buffer[self.starts[a] + self.skip : self.ends[a] - self.trailer]
        second = self.buffer[self.starts[b] + self.skip : self.ends[b] - self.trailer]
        return first.size == second.size and bool(np.array_equal(first, second))


def _resolve_repeats(context: _Context, packets: np.ndarray, repeated: np.ndarray, what: str) -> None:
    """For each ``i`` with ``repeated[i]``, packets[i] and packets[i+1] carry the same piece; the later wins."""
    for i in np.flatnonzero(repeated):
        earlier, later = packets[i], packets[i + 1]
        if context.same_content(earlier, later):
            context.flag(later, QualityFlag.DUPLICATE_PACKET, None)
        else:
            context.flag(
                later,
                QualityFlag.CONFLICTING_FRAGMENT,
                f"{what} arrived again with different content; kept the copy at this offset "
                f"(dropped the one at byte offset {context.starts[earlier]})",
            )


def _header_packets(context: _Context, is_header: np.ndarray, min_bytes: int) -> np.ndarray:
    """Index of the header packet of each event (last arrival wins), -1 where there is none."""
    n_events = context.quality.size
    candidates = np.flatnonzero(is_header)
    length = context.ends[candidates] - context.starts[candidates]
    short = length < min_bytes
    for i in candidates[short]:  # reported by _usable_packets
        context.flag(i, QualityFlag.TRUNCATED, None)
    for i in candidates[length > min_bytes]:
        context.flag(
            i,
            QualityFlag.SCHEMA_MISMATCH,
            f"event-header packet of {context.ends[i] - context.starts[i]} bytes is longer than the "
            f"{min_bytes} bytes of this schema's header: a later packet version? the extra bytes are not "
            "decoded",
        )
    candidates = candidates[~short]
    order = np.argsort(context.rows[candidates], kind="stable")
    candidates = candidates[order]
    rows = context.rows[candidates]
    _resolve_repeats(context, candidates, rows[1:] == rows[:-1], "event-header packet")
    header_of_row = np.full(n_events, -1, dtype=np.int64)
    header_of_row[rows] = candidates  # rows are sorted with arrivals in order, so the last copy wins
    missing = np.flatnonzero(header_of_row < 0)
    context.quality[missing] |= np.uint16(QualityFlag.MISSING_HEADER)
    for row in missing:
        context.tell("no event-header packet; header fields hold fill values", event=int(context.event_number[row]))
    return header_of_row


@dataclass(frozen=True)
class _Fragments:
    """Fragments of one channel sorted by (event row, offset), one copy of each."""

    packets: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray

    @property
    def first_in_row(self) -> np.ndarray:
        return np.r_[True, self.rows[1:] != self.rows[:-1]][: self.rows.size]

    @property
    def last_in_row(self) -> np.ndarray:
        return np.r_[self.rows[1:] != self.rows[:-1], True][: self.rows.size]


def _fragments(context: _Context, packets: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, what: str) -> _Fragments:
    """Sort fragments by event and offset and resolve repeats (the last arrival wins)."""
    rows = context.rows[packets]
    order = np.lexsort((packets, offsets, rows))
    packets, sizes, offsets, rows = packets[order], sizes[order], offsets[order], rows[order]
    repeated = (rows[1:] == rows[:-1]) & (offsets[1:] == offsets[:-1])
    _resolve_repeats(context, packets, repeated, what)
    unique = ~np.r_[repeated, False][: rows.size]
    return _Fragments(packets[unique], sizes[unique], offsets[unique], rows[unique])


def _channel(
    context: _Context,
    channel: Channel,
    packets: np.ndarray,
    fragment_offsets: np.ndarray,
    compressed: np.ndarray,
    schema: Schema,
) -> WaveformRows:
    """Place every fragment of one channel, unpacking or decompressing it; flag what is wrong."""
    n_events = context.quality.size
    payload = context.ends[packets] - context.starts[packets] - schema.payload_offset - schema.trailer_bits // 8
    offset_bytes = fragment_offsets[packets] * schema.fragment_offset_unit_bytes
    is_compressed = compressed[packets]
    compressed_rows = np.zeros(n_events, dtype=bool)
    compressed_rows[context.rows[packets[is_compressed]]] = True
    mixed = ~is_compressed & compressed_rows[context.rows[packets]]
    for i in packets[mixed]:
        context.flag(
            i,
            QualityFlag.CONFLICTING_FRAGMENT,
            f"{channel.name} has both compressed and uncompressed fragments; the uncompressed one is ignored",
        )
    plain = ~is_compressed & ~mixed
    for i in packets[plain & (payload % channel.word_bytes != 0)]:
        context.flag(
            i,
            QualityFlag.TRUNCATED,
            f"{channel.name} payload is not a whole number of {channel.word_bytes}-byte words; "
            "the partial word was dropped",
        )
    words = _fragments(
        context,
        packets[plain],
        payload[plain] // channel.word_bytes,
        offset_bytes[plain] // channel.word_bytes,
        f"{channel.name} fragment",
    )
    complete = _check_coverage(context, channel.name, "word", words, channel.words)
    present = compressed_rows.copy()
    present[words.rows] = True
    context.quality[~present] |= np.uint16(QualityFlag.MISSING_CHANNEL)
    message = f"no {channel.name} packet; samples hold the fill value {channel.fill_value}"  # one string for all
    for row in np.flatnonzero(~present):
        context.tell(message, event=int(context.event_number[row]))
    stored = rows_to_store(present)  # events without the channel cost no row unless they are few
    slot = np.zeros(n_events, np.int64)
    slot[stored] = np.arange(stored.size)
    fragments = {
        "payload_starts": context.starts[words.packets] + schema.payload_offset,
        "payload_words": words.sizes,
        "rows": slot[words.rows],
        "word_offsets": words.offsets,
    }
    if not is_compressed.any() and 2 * _words_received(words, channel.words) < stored.size * channel.words:
        packed = PackedRows.copy_from(context.buffer, channel, stored.size, **fragments)  # unpacked when read
        return WaveformRows(stored, packed, n_events, channel.fill_value)
    out = unpack_fragments(context.buffer, channel, stored.size, complete=complete[stored], **fragments)
    if is_compressed.any():
        streams = _fragments(
            context,
            packets[is_compressed],
            payload[is_compressed],
            offset_bytes[is_compressed],
            f"compressed {channel.name} fragment",
        )
        _decompress_into(out, slot, context, channel, streams, schema)
    return WaveformRows(stored, out, n_events, channel.fill_value)


def _words_received(words: _Fragments, record_words: int) -> int:
    """Words the fragments place within the record (counted once per fragment, overlaps included)."""
    return int(np.minimum(words.sizes, np.maximum(record_words - words.offsets, 0)).sum())


def _decompress_into(
    out: np.ndarray, slot: np.ndarray, context: _Context, channel: Channel, streams: _Fragments, schema: Schema
) -> None:
    """Rice-decode each event's concatenated compressed fragments into its row of ``out`` (``slot[event]``)."""
    whole = _check_coverage(context, f"compressed {channel.name}", "byte", streams, None)
    if channel.compressed_samples is None:
        for i in streams.packets[streams.last_in_row]:
            context.flag(
                i,
                QualityFlag.BAD_COMPRESSION,
                f"{channel.name} is compressed but the schema declares no "
                "compressed_samples for it; samples hold the fill value",
            )
        return
    usable = whole[streams.rows]
    kept = _Fragments(streams.packets[usable], streams.sizes[usable], streams.offsets[usable], streams.rows[usable])
    packets, sizes, rows, last = kept.packets, kept.sizes, kept.rows, kept.last_in_row
    if packets.size == 0:  # no event has a complete stream: each was flagged by the coverage check
        return
    starts = context.starts[packets] + schema.payload_offset
    stream = (
        np.concatenate([context.buffer[a : a + n] for a, n in zip(starts, sizes, strict=True)])
        if packets.size
        else np.zeros(0, np.uint8)
    )
    row_ends = np.cumsum(sizes)[last]
    row_starts = np.r_[0, row_ends[:-1]]
    samples, status, where = rice.decode_rows(
        stream, row_starts, row_ends, n_samples=channel.compressed_samples, sample_bits=channel.sample_bits
    )
    decoded_rows = rows[last]
    good = status == 0
    out[slot[decoded_rows[good]]] = samples[good, : channel.n_samples]
    for row, packet, code, index in zip(
        decoded_rows[~good], packets[last][~good], status[~good], where[~good], strict=True
    ):
        out[slot[row]] = channel.fill_value
        context.flag(
            packet,
            QualityFlag.BAD_COMPRESSION,
            f"{channel.name} cannot be decompressed ({rice.RiceStatus(code).name} at sample {index} of "
            f"{channel.compressed_samples}); samples hold the fill value {channel.fill_value}",
        )


def _check_coverage(context: _Context, name: str, unit: str, fragments: _Fragments, total: int | None) -> np.ndarray:
    """Report gaps, overlaps and overruns among sorted fragments; ``total`` is the record length, if fixed.

    Returns
    -------
    numpy.ndarray
        Per event row: True when the fragments cover the record without a gap.
    """
    packets, offsets, rows = fragments.packets, fragments.offsets, fragments.rows
    stops = offsets + fragments.sizes
    first_in_row, last_in_row = fragments.first_in_row, fragments.last_in_row
    previous_stop = np.r_[0, stops[:-1]]
    previous_stop[first_in_row] = 0
    gaps = offsets > previous_stop
    short = last_in_row & (stops < total) if total is not None else np.zeros(rows.size, bool)
    complete = np.zeros(context.quality.size, dtype=bool)
    complete[rows[last_in_row]] = True
    complete[rows[gaps | short]] = False
    for i in np.flatnonzero(gaps):
        context.flag(
            packets[i],
            QualityFlag.TRUNCATED,
            f"{name} {unit}s {previous_stop[i]}..{offsets[i] - 1} are missing (lost fragment)",
        )
    for i in np.flatnonzero(offsets < previous_stop):
        context.flag(
            packets[i],
            QualityFlag.CONFLICTING_FRAGMENT,
            f"{name} fragment at {unit} {offsets[i]} overlaps the previous one (ending at {unit} "
            f"{previous_stop[i]}); the later fragment wins",
        )
    for i in np.flatnonzero(short):
        context.flag(
            packets[i], QualityFlag.TRUNCATED, f"{name} ends at {unit} {stops[i]} of {total} (lost final fragment)"
        )
    if total is not None:
        for i in np.flatnonzero(stops > total):
            context.flag(
                packets[i],
                QualityFlag.TRUNCATED,
                f"{name} fragment runs to {unit} {stops[i]}, past the {total}-{unit} record; extra {unit}s ignored",
            )
    return complete
