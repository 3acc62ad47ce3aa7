"""Rice decoding and encoding: official vectors, round trips on every real waveform, fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CAPTURE_2023_07, CAPTURE_2023_12
from hypothesis import given, settings
from hypothesis import strategies as st
from rice_reference import from_bits, reference_decode, to_bits

import idex
from idex.decode import rice
from idex.exceptions import DecompressionError


def official(bits: str, n: int, sample_bits: int = 10) -> list[int]:
    """Decode an official test vector (a bit string, padded to whole bytes)."""
    return rice.decode(from_bits(bits), n_samples=n, sample_bits=sample_bits).tolist()


# The imap-processing unit-test vectors (ALGORITHMS.md §1.5): each is one subframe, of which the
# first samples are compared.
def test_official_constant_vector():
    assert official("00" + "0000000001", 64) == [1] * 64


def test_official_verbatim_vector():
    assert official("01" + "".join(f"{i:010b}" for i in range(64)), 64) == list(range(64))


def test_official_first_order_vector():
    bits = "10" + "0001" + "0000000001" + "101" + "101" + "00101" + "100" * 60
    assert official(bits, 64)[:4] == [1, 2, 3, 8]


def test_official_second_order_vector():
    bits = "11" + "0001" + "0000000001" + "0000000010" + "101" + "000111" + "00111" + "100" * 59
    assert official(bits, 64)[:5] == [1, 2, 4, 1, 5]


def test_official_framing_vector():
    """A 640-sample frame is exactly 10 subframes."""
    bits = ("00" + "0000000011") * 10
    assert official(bits, 640) == [3] * 640
    with pytest.raises(DecompressionError, match="OUT_OF_BITS"):
        official(bits[:-12], 640)


def test_escape_code():
    # psel 2, k 0, warm-up 5, then escape (47 zeros, one) with a 12-bit signed residual of -3: 5 -> 2
    bits = "10" + "0000" + f"{5:010b}" + "0" * 47 + "1" + f"{(-3) & 0xFFF:012b}" + "11" * 62
    assert official(bits, 64)[:2] == [5, 2]


@pytest.mark.parametrize(
    ("bits", "status"),
    [
        ("10" + "0000" + f"{5:010b}" + "0" * 40, "NO_TERMINATING_ONE"),
        ("10" + "0000" + f"{5:010b}" + "0" * 48 + "1" + "0" * 30, "QUOTIENT_TOO_LARGE"),
        ("10" + "0000" + f"{1:010b}" + "01" + "0" + "0" * 200, "SAMPLE_OUT_OF_RANGE"),  # 1 + (-1 * 2 + 0) < 0
        ("10" + "00", "OUT_OF_BITS"),
    ],
)
def test_bad_streams_have_a_status(bits, status):
    with pytest.raises(DecompressionError, match=status):
        official(bits, 64)


def test_matches_the_pure_python_reference_on_random_frames():
    generator = np.random.default_rng(3)
    for sample_bits, n in ((10, 8192), (12, 512)):
        walk = np.clip(np.cumsum(generator.integers(-6, 7, n)) + (1 << (sample_bits - 1)), 0, (1 << sample_bits) - 1)
        data = rice.encode(walk, sample_bits=sample_bits)
        assert reference_decode(to_bits(data), n, sample_bits) == walk.tolist()
        np.testing.assert_array_equal(rice.decode(data, n_samples=n, sample_bits=sample_bits), walk)


def _full_records(capture, schema_name):
    """Every waveform of a real capture at its compressed length (8192 / 512 samples)."""
    import packet_tools as pt

    from idex.decode.framing import frame

    schema = idex.load_schema(schema_name)
    packets = pt.split(capture.read_bytes())
    records = {}
    for packet in packets:
        if pt.apid(packet) != pt.SCIENCE_APID or pt.sci_type(packet) == 1:
            continue
        key = (pt.event_number(packet), pt.sci_type(packet))
        records.setdefault(key, []).append((pt.fragment_offset(packet), packet[44:-4]))
    del frame
    for (number, kind), fragments in records.items():
        channel = schema.channel_by_type[kind]
        payload = np.frombuffer(b"".join(raw for _, raw in sorted(fragments)), ">u4").astype(np.int64)
        shifts = (channel.samples_per_word - 1 - np.arange(channel.samples_per_word)) * channel.sample_bits
        samples = ((payload[:, None] >> shifts) & ((1 << channel.sample_bits) - 1)).ravel()
        yield number, channel, samples[: 8192 if channel.sample_bits == 10 else 512]


@pytest.mark.parametrize(
    ("capture", "schema"),
    [(CAPTURE_2023_07, "science_2023_07"), (CAPTURE_2023_12, "science_2023_12")],
    ids=["2023_07", "2023_12"],
)
def test_every_real_waveform_round_trips(capture, schema):
    count = 0
    total_in = total_out = 0
    for _, channel, samples in _full_records(capture, schema):
        data = rice.encode(samples, sample_bits=channel.sample_bits)
        np.testing.assert_array_equal(
            rice.decode(data, n_samples=samples.size, sample_bits=channel.sample_bits), samples
        )
        total_in += samples.size * channel.sample_bits / 8
        total_out += len(data)
        count += 1
    assert count == (19 if schema.endswith("07") else 14) * 6
    assert total_out < 0.6 * total_in  # real waveforms compress well


def test_encoder_picks_the_cheapest_predictor():
    assert len(rice.encode(np.full(64, 700), sample_bits=10)) == 2  # constant: 2 + 10 bits
    ramp = np.arange(64) * 3 + 100
    assert to_bits(rice.encode(ramp, sample_bits=10))[:2] in ("10", "11")


def test_encoder_rejects_bad_frames():
    with pytest.raises(ValueError, match="multiple of 64"):
        rice.encode(np.zeros(10), sample_bits=10)
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        rice.encode(np.full(64, 1024), sample_bits=10)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=400), st.sampled_from([(10, 128), (12, 64), (10, 512)]))
def test_random_bytes_never_crash_or_hang(data, shape):
    sample_bits, n = shape
    out, status, where = rice.decode_rows(
        np.frombuffer(data, np.uint8), np.array([0]), np.array([len(data)]), n_samples=n, sample_bits=sample_bits
    )
    assert status[0] in set(rice.RiceStatus)
    if status[0] == 0:
        assert out.shape == (1, n) and int(out.max(initial=0)) < 1 << sample_bits
        assert reference_decode(to_bits(data), n, sample_bits) == out[0].tolist()
    else:
        with pytest.raises(ValueError):
            reference_decode(to_bits(data), n, sample_bits)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 1023), min_size=64, max_size=64).map(lambda v: v * 2),
    st.integers(0, 2000),
    st.integers(0, 7),
)
def test_mutated_streams_decode_like_the_reference(samples, position, bit):
    data = bytearray(rice.encode(np.array(samples), sample_bits=10))
    data[position % len(data)] ^= 1 << bit
    out, status, _ = rice.decode_rows(
        np.frombuffer(bytes(data), np.uint8), np.array([0]), np.array([len(data)]), n_samples=128, sample_bits=10
    )
    try:
        expected = reference_decode(to_bits(bytes(data)), 128, 10)
    except ValueError:
        assert status[0] != 0
    else:
        assert status[0] == 0 and out[0].tolist() == expected
