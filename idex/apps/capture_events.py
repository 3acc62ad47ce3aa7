"""Where events begin and end in a live packet stream, for rotating capture files and decoding live.

An event is the science packets sharing one (event time, event number) key: its header packet and
each channel's fragments, the last of which clears the more-fragments flag. Which APID is science and
where those fields sit come from the packet schema. :class:`EventParts` follows the stream packet by
packet and says where a capture file may end without cutting an event in two: before the first packet
of a new event, or anywhere once the open event has all its parts. An event that never completes is
given up after ``max_open_bytes`` (with a warning), so a broken stream cannot hold rotation back for ever.
"""

from __future__ import annotations

import logging

import numpy as np

from idex.decode.fields import extract_bits
from idex.schema import Schema

__all__ = ["EventParts"]

log = logging.getLogger(__name__)


class EventParts:
    """Event keys and completeness of science packets, from the schema's sub-header roles."""

    def __init__(self, schema: Schema, *, max_open_bytes: int = 16 << 20) -> None:
        self.schema = schema
        self.needed = {schema.header_type_code, *schema.channel_by_type}
        self.max_open_bytes = max_open_bytes
        self._open: tuple[int, int] | None = None  # key of the event being received, None when none is open
        self._parts: set[int] = set()
        self._open_bytes = 0
        self.given_up = 0

    def field(self, packet: bytes, role: str) -> int:
        """The value of sub-header field ``role`` in ``packet``."""
        spec = self.schema.subheader_field(role)
        return int(extract_bits(np.frombuffer(packet, np.uint8), np.zeros(1, np.int64), spec.offset, spec.bits)[0])

    def key(self, packet: bytes) -> tuple[int, int] | None:
        """(event time, event number) of a science packet; None for any other packet."""
        apid = (packet[0] & 7) << 8 | packet[1]
        if apid != self.schema.science_apid or len(packet) < self.schema.payload_offset:
            return None
        return self.field(packet, "event_time"), self.field(packet, "event_number")

    def part_closed(self, packet: bytes) -> int | None:
        """The part (type code) a science packet completes: the header, or a channel's last fragment."""
        kind = self.field(packet, "packet_type")
        return kind if kind == self.schema.header_type_code or not self.field(packet, "more_fragments") else None

    def boundary(self, packet: bytes) -> bool:
        """Take the next packet; True when a file may end just before it (no event is cut)."""
        key = self.key(packet)
        at_boundary = self._open is None or (key is not None and key != self._open)
        if not at_boundary and self._open_bytes > self.max_open_bytes:
            self.given_up += 1
            log.warning(
                "event %s still incomplete after %d bytes: a file may end inside it (%d such events)",
                self._open,
                self._open_bytes,
                self.given_up,
            )
            at_boundary, self._open = True, None
        if key is None:
            if at_boundary:
                self._open = None
            else:
                self._open_bytes += len(packet)
            return at_boundary
        if key != self._open:
            self._open, self._parts, self._open_bytes = key, set(), 0
        self._open_bytes += len(packet)
        closed = self.part_closed(packet)
        if closed is not None:
            self._parts.add(closed)
        if self._parts >= self.needed:
            self._open = None  # complete: whatever comes next starts a new file cleanly
        return at_boundary
