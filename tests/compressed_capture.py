"""Test helper: build a Rice-compressed version of a real capture.

Every waveform is re-encoded with :func:`idex.decode.rice.encode` into new science packets with the
compression flag set, fragments of at most ``max_words`` 32-bit words, consistent fragment offsets,
more-fragments flags, packet lengths and CRCs. Event-header packets get the compression flag too;
all other packets are copied unchanged and in place.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import packet_tools as pt

import idex
from idex.decode import rice

PAYLOAD = 44  # first byte of IDX__SCI0RAW
FLAGS = 19  # byte holding IDX__SCI0PACK (bit 2), IDX__SCI0FRAG (bit 1) and IDX__SCI0COMP (bit 0)


def _samples(fragments: list[tuple[int, bytes]], channel) -> np.ndarray:
    payload = np.frombuffer(b"".join(raw for _, raw in sorted(fragments)), ">u4").astype(np.int64)
    shifts = (channel.samples_per_word - 1 - np.arange(channel.samples_per_word)) * channel.sample_bits
    samples = ((payload[:, None] >> shifts) & ((1 << channel.sample_bits) - 1)).ravel()
    return samples[: channel.compressed_samples]


def _packet(template: bytes, payload: bytes, offset_words: int, more: bool) -> bytes:
    head = bytearray(template[:PAYLOAD])
    head[FLAGS] = (head[FLAGS] & ~0b11) | 0b01 | (0b10 if more else 0)
    head[24:26] = offset_words.to_bytes(2, "big")
    body = bytes(head) + payload + b"\x33\x33\x00\x00"
    body = body[:4] + (len(body) - 7).to_bytes(2, "big") + body[6:]
    return pt.with_crc(body)


def compress_capture(capture: bytes, schema_name: str, *, max_words: int = 1008) -> tuple[bytes, float]:
    """Return the compressed capture and its compression ratio (uncompressed / compressed payload bytes)."""
    schema = idex.load_schema(schema_name)
    packets = pt.split(capture)
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for i in pt.science(packets):
        kind = pt.sci_type(packets[i])
        if kind != schema.header_type_code:
            key = (int.from_bytes(packets[i][28:32], "big"), pt.event_number(packets[i]), kind)
            groups[key].append(i)
    replacement: dict[int, list[bytes]] = {}
    raw_bytes = packed_bytes = 0
    for (_, _, kind), indices in groups.items():
        channel = schema.channel_by_type[kind]
        fragments = [(pt.fragment_offset(packets[i]), packets[i][PAYLOAD:-4]) for i in indices]
        stream = rice.encode(_samples(fragments, channel), sample_bits=channel.sample_bits, align_bytes=4)
        raw_bytes += sum(len(raw) for _, raw in fragments)
        packed_bytes += len(stream)
        pieces = [stream[start : start + 4 * max_words] for start in range(0, len(stream), 4 * max_words)]
        template = packets[indices[0]]
        replacement[indices[0]] = [
            _packet(template, piece, n * max_words, n < len(pieces) - 1) for n, piece in enumerate(pieces)
        ]
        for i in indices[1:]:
            replacement[i] = []
    out = []
    for i, packet in enumerate(packets):
        if i in replacement:
            out.extend(replacement[i])
        elif pt.apid(packet) == pt.SCIENCE_APID and pt.sci_type(packet) == schema.header_type_code:
            edited = bytearray(packet)
            edited[FLAGS] |= 0b01
            out.append(pt.with_crc(bytes(edited)))
        else:
            out.append(packet)
    return b"".join(out), raw_bytes / packed_bytes
