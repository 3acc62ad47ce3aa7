"""The CCSDS space packet primary header (CCSDS 133.0-B-2, section 4.1.3), written once.

Every IDEX packet starts with it; a packet schema declares what follows (secondary header, sub-header,
payload). The table gives each field's bit offset from the packet start and its width. The framing kernels
(:mod:`idex.decode.framing`) read the version, APID and length straight from the bytes this table places.

>>> PRIMARY_HEADER["apid"]
(5, 11)
>>> PRIMARY_HEADER_BITS
48
"""

from __future__ import annotations

__all__ = ["LENGTH_BIAS", "PRIMARY_HEADER", "PRIMARY_HEADER_BITS", "PRIMARY_HEADER_BYTES"]

PRIMARY_HEADER: dict[str, tuple[int, int]] = {
    "version": (0, 3),
    "packet_type": (3, 1),
    "sec_hdr_flag": (4, 1),
    "apid": (5, 11),
    "sequence_flags": (16, 2),
    "sequence_count": (18, 14),
    "packet_length": (32, 16),
}
"""Field name: (bit offset from the packet start, bits)."""

PRIMARY_HEADER_BITS = sum(bits for _, bits in PRIMARY_HEADER.values())
"""Bits of the primary header (48)."""

PRIMARY_HEADER_BYTES = PRIMARY_HEADER_BITS // 8
"""Bytes of the primary header (6)."""

LENGTH_BIAS = 1
"""The packet length field counts the bytes after the primary header minus one."""
