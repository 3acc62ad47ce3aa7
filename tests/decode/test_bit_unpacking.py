"""Bit-field extraction and waveform unpacking against an independent bit reader (``bitstring``).

The compiled unpacking loop is built per packing, with the packing as compile-time constants, so
every packing a schema may declare is checked here, not only the two of the shipped schemas:
records split into fragments that arrive out of order with other bytes between them, a partial last
word whose trailing samples the schema drops, and a fragment that arrives twice with new content.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from bitstring import BitArray

import idex
from idex.decode.fields import extract_bits
from idex.decode.waveform import unpack_fragments

TOF = idex.load_schema("science_2023_12").channels["tof_high"]

# (sample bits, samples per word, word bits, samples, dropped trailing samples)
PACKINGS = [
    (10, 3, 32, 8189, 4),  # the TOF channels of the shipped schemas
    (12, 2, 32, 512, 0),  # their low-rate channels
    (16, 1, 16, 300, 0),
    (8, 4, 32, 101, 3),
    (14, 2, 32, 257, 1),
    (16, 2, 32, 90, 0),
    (5, 1, 8, 77, 0),
    (3, 5, 16, 64, 1),
]


def packed_record(samples: np.ndarray, sample_bits: int, samples_per_word: int, word_bits: int) -> bytes:
    """Pack ``samples`` MSB-first, pad bits at the top of each word, with bitstring."""
    pad = word_bits - samples_per_word * sample_bits
    parts = []
    for first in range(0, samples.size, samples_per_word):
        parts.append(BitArray.from_zeros(pad))
        parts += [BitArray.from_dtype(f"u{sample_bits}", int(v)) for v in samples[first : first + samples_per_word]]
    return BitArray.from_joined(parts).to_bytes()


def read_back(record: bytes, sample_bits: int, samples_per_word: int, word_bits: int, n_samples: int) -> list[int]:
    """The samples of a packed record, read by bitstring."""
    bits = BitArray.from_bytes(record)
    pad = word_bits - samples_per_word * sample_bits
    return [
        bits[position : position + sample_bits].uint
        for i in range(n_samples)
        for position in [(i // samples_per_word) * word_bits + pad + (i % samples_per_word) * sample_bits]
    ]


@pytest.mark.parametrize(("sample_bits", "samples_per_word", "word_bits", "n_samples", "dropped"), PACKINGS)
def test_unpacking_matches_bitstring_for_every_packing(sample_bits, samples_per_word, word_bits, n_samples, dropped):
    rng = np.random.default_rng(sample_bits * 1000 + n_samples)
    channel = dataclasses.replace(
        TOF,
        sample_bits=sample_bits,
        samples_per_word=samples_per_word,
        word_bits=word_bits,
        n_samples=n_samples,
        drop_trailing=dropped,
    )
    word_bytes, n_events = word_bits // 8, 5
    truth = rng.integers(0, 1 << sample_bits, size=(n_events, channel.words * samples_per_word))
    records = [packed_record(row, sample_bits, samples_per_word, word_bits) for row in truth]
    assert all(len(r) == channel.words * word_bytes for r in records)

    pieces = []  # (row, word offset, bytes): each record in 1 to 4 fragments
    for row, record in enumerate(records):
        cuts = np.sort(rng.choice(np.arange(1, channel.words), size=min(3, row), replace=False))
        edges = [0, *cuts.tolist(), channel.words]
        pieces += [
            (row, a, record[a * word_bytes : b * word_bytes]) for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    order = rng.permutation(len(pieces))
    buffer, starts = bytearray(), []
    for i in order:  # out of order, with unrelated bytes between fragments
        buffer += rng.integers(0, 256, size=int(rng.integers(0, 7)), dtype=np.uint8).tobytes()
        starts.append(len(buffer))
        buffer += pieces[i][2]
    out = unpack_fragments(
        np.frombuffer(bytes(buffer), np.uint8),
        channel,
        n_events,
        payload_starts=np.array(starts),
        payload_words=np.array([len(pieces[i][2]) // word_bytes for i in order]),
        rows=np.array([pieces[i][0] for i in order]),
        word_offsets=np.array([pieces[i][1] for i in order]),
        complete=np.ones(n_events, bool),
    )
    assert out.shape == (n_events, n_samples)
    for row, record in enumerate(records):
        expected = read_back(record, sample_bits, samples_per_word, word_bits, n_samples)
        np.testing.assert_array_equal(out[row], expected)
        np.testing.assert_array_equal(out[row], truth[row, :n_samples])


def test_later_copy_of_a_fragment_wins_and_gaps_hold_the_fill_value():
    channel = dataclasses.replace(TOF, n_samples=30, drop_trailing=0)
    first, second = np.arange(30) + 1, np.arange(30) + 500
    old, new = (packed_record(s, 10, 3, 32) for s in (first, second))
    buffer = np.frombuffer(old + new, np.uint8)
    # row 0: words 0-9 from the old record, then words 2-5 again from the new one; row 1: only words 4-9
    out = unpack_fragments(
        buffer,
        channel,
        2,
        payload_starts=np.array([0, len(old) + 8, len(old) + 16]),
        payload_words=np.array([10, 4, 6]),
        rows=np.array([0, 0, 1]),
        word_offsets=np.array([0, 2, 4]),
        complete=np.array([True, False]),
    )
    np.testing.assert_array_equal(out[0], np.r_[first[:6], second[6:18], first[18:]])
    np.testing.assert_array_equal(out[1], np.r_[[channel.fill_value] * 12, second[12:]])


@pytest.mark.parametrize("seed", range(3))
def test_bit_fields_match_bitstring(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=400, dtype=np.uint8)
    starts = np.sort(rng.choice(300, size=20, replace=False))
    for _ in range(40):
        bits = int(rng.integers(1, 57))
        offset = int(rng.integers(0, 8 * 40))
        values = extract_bits(data, starts, offset, bits)
        expected = [BitArray.from_bytes(data[s : s + 100].tobytes())[offset : offset + bits].uint for s in starts]
        assert values.tolist() == expected, (offset, bits)
