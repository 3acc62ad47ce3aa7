"""Nothing lost, whatever arrives: false headers, flipped bits, cut and spliced captures, seeded fuzzing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import packet_tools as pt
import pytest
import xarray as xr
from compressed_capture import compress_capture
from conftest import CAPTURE_2023_12, DATA

import idex
from idex.exceptions import IdexError, PacketWarning


def decode(data: bytes, schema: str = "science_2023_12") -> xr.DataTree:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PacketWarning)
        return idex.decode_bytes(data, schema=schema)


def events_of(tree: xr.DataTree) -> xr.Dataset:
    return tree["events"].to_dataset()


@pytest.fixture(scope="module")
def compressed_2023_12(bytes_2023_12) -> bytes:
    return compress_capture(bytes_2023_12, "science_2023_12")[0]


@pytest.fixture(scope="module")
def clean_2023_12(bytes_2023_12) -> xr.Dataset:
    return events_of(decode(bytes_2023_12))


def same_event(got: xr.Dataset, expected: xr.Dataset, number: int) -> bool:
    """Every waveform and header value of event ``number`` equal in both decodes."""
    a, b = got.sel(event=number), expected.sel(event=number)
    names = [n for n in expected.data_vars if n not in ("quality_flags",) and n in got]
    return all(np.array_equal(a[n].values, b[n].values, equal_nan=True) for n in names)


def test_a_false_header_in_front_does_not_swallow_real_packets(bytes_2023_12, clean_2023_12):
    """Six bytes that look like an APID 1418 header whose length ends exactly on a later real packet start."""
    packets = pt.split(bytes_2023_12)
    target = sum(len(p) for p in packets[:5])  # the false packet would cover the first five real packets
    fake = bytes([0x08 | (1418 >> 8), 1418 & 0xFF, 0xC0, 0x00]) + (target - 1).to_bytes(2, "big")
    tree = decode(fake + bytes_2023_12)
    got = events_of(tree)
    np.testing.assert_array_equal(got["event"].values, clean_2023_12["event"].values)
    for number in clean_2023_12["event"].values:
        assert same_event(got, clean_2023_12, int(number))
    problems = tree["problems"].to_dataset()
    assert 0 in problems["offset"].values  # the six bytes are reported as skipped, at their offset
    assert tree["packets"].sizes["packet"] == len(packets)


def test_a_corrupted_length_without_crc_does_not_swallow_science_packets(bytes_2023_12, clean_2023_12):
    """An APID 1376 packet (no CRC) whose length field grows to end on a later packet start."""
    packets = pt.split(bytes_2023_12)
    index = next(i for i, p in enumerate(packets) if pt.apid(p) == 1376 and i + 4 < len(packets))
    grown = sum(len(p) for p in packets[index : index + 4])
    bad = packets[index][:4] + (grown - 7).to_bytes(2, "big") + packets[index][6:]
    got = events_of(decode(b"".join(packets[:index] + [bad] + packets[index + 1 :])))
    for number in clean_2023_12["event"].values:
        assert same_event(got, clean_2023_12, int(number))


def test_a_flipped_compression_bit_flags_one_event(bytes_2023_12, clean_2023_12):
    """Byte 8 839 of the 2023-12-14 capture, bit 0: the compression flag of one sub-header."""
    data = bytearray(bytes_2023_12)
    data[8839] ^= 1
    got = events_of(decode(bytes(data)))
    damaged = got["quality_flags"].values != 0
    assert 1 <= damaged.sum() <= 2
    for number in got["event"].values[~damaged]:
        assert same_event(got, clean_2023_12, int(number))


def test_a_packet_aligned_tail_of_a_compressed_capture_decodes(compressed_2023_12):
    """What a rotated capture file is: the compressed 2023-12-14 capture from byte 182 400 on."""
    packets = pt.split(compressed_2023_12)
    ends = np.cumsum([len(p) for p in packets])
    cut = int(ends[np.searchsorted(ends, 182_400)])
    tail = compressed_2023_12[cut:]
    got = events_of(decode(tail))
    assert got.sizes["event"] >= 1
    whole = events_of(decode(compressed_2023_12))
    flags = got["quality_flags"].values
    for number in got["event"].values[flags == 0]:
        assert same_event(got, whole, int(number))
    first = got.isel(event=0)
    assert int(first["quality_flags"]) != 0  # the event cut in two says so


def test_two_packet_versions_in_one_file_are_each_decoded_with_their_own_schema(bytes_2023_12, bytes_2023_07):
    """A daily file spanning a flight-software update: every event decoded with its own layout, nothing flagged."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PacketWarning)
        tree = idex.decode_bytes(bytes_2023_12 + bytes_2023_07)
    events = events_of(tree)
    july = events["packet_schema"].values == "science_2023_07"
    assert july.sum() == 19 and (~july).sum() == 14 and (events["quality_flags"].values == 0).all()
    for part, rows in (
        (idex.open(DATA / "imap_idex_l0_raw_20230725_v001.pkts"), july),
        (idex.open(CAPTURE_2023_12), ~july),
    ):
        for name, variable in part.data_vars.items():
            np.testing.assert_array_equal(events[name].values[rows], variable.values, err_msg=name)


def test_a_forced_schema_outside_its_dates_is_flagged_per_event():
    with pytest.warns(PacketWarning, match="outside the validity of the given schema science_2023_07") as caught:
        events = idex.open_raw(CAPTURE_2023_12, schema="science_2023_07", group="events")
    assert (events["quality_flags"].values & idex.QualityFlag.SCHEMA_MISMATCH > 0).all()
    assert len([w for w in caught if "outside the validity" in str(w.message)]) == 14


FUZZ_CASES = 240


def _damage(rng: np.random.Generator, data: bytes, packets: list[bytes]) -> tuple[bytes, set[int]]:
    """One random damage and the byte ranges it touched (for deciding which events must survive intact)."""
    kind = rng.integers(0, 8)
    n = len(data)
    if kind == 0:  # bit flips
        out = bytearray(data)
        where = rng.integers(0, n, rng.integers(1, 6))
        for w in where:
            out[w] ^= 1 << int(rng.integers(0, 8))
        return bytes(out), {(int(w), int(w) + 1) for w in where}
    if kind == 1:  # cut a range
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.integers(1, 3000)))
        return data[:a] + data[b:], {(a, b)}
    if kind == 2:  # insert garbage
        a = int(rng.integers(0, n))
        junk = rng.integers(0, 256, int(rng.integers(1, 500)), dtype=np.uint8).tobytes()
        return data[:a] + junk + data[a:], {(a, a + 1)}
    if kind == 3:  # truncate
        a = int(rng.integers(1, n))
        return data[:a], {(a, n)}
    if kind == 4:  # garbage prefix
        junk = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        return junk + data, set()
    order = list(range(len(packets)))
    if kind == 5:  # duplicate some packets
        for i in rng.choice(len(packets), 5, replace=False):
            order.insert(int(rng.integers(0, len(order))), int(i))
        return b"".join(packets[i] for i in order), set()
    if kind == 6:  # reorder
        rng.shuffle(order)
        return b"".join(packets[i] for i in order), set()
    a, b = sorted(int(x) for x in rng.integers(0, n, 2))  # splice: a range moved elsewhere
    piece = data[a:b]
    rest = data[:a] + data[b:]
    c = int(rng.integers(0, len(rest) + 1))
    inserted_at = c if c < a else c + (b - a)  # where the piece lands, in the original's offsets
    return rest[:c] + piece + rest[c:], {(a, a + 1), (b - 1, b), (inserted_at, inserted_at + 1)}


def test_seeded_fuzzing_never_crashes_and_keeps_untouched_events(bytes_2023_12, compressed_2023_12, clean_2023_12):
    """A few hundred damaged variants of the real capture and its compressed re-encoding: only documented
    warnings, never an exception, and every event none of whose packets was touched decodes exactly."""
    rng = np.random.default_rng(20261125)
    originals = {"plain": bytes_2023_12, "compressed": compressed_2023_12}
    reference = {"plain": clean_2023_12, "compressed": events_of(decode(compressed_2023_12))}
    layouts = {}
    for name, data in originals.items():
        packets = pt.split(data)
        starts = np.cumsum([0] + [len(p) for p in packets[:-1]])
        science = [
            (int(s), int(s) + len(p), pt.event_number(p))
            for s, p in zip(starts, packets, strict=True)
            if pt.apid(p) == pt.SCIENCE_APID
        ]
        layouts[name] = (packets, science)
    checked = 0
    for case in range(FUZZ_CASES):
        name = "plain" if case % 2 == 0 else "compressed"
        packets, science = layouts[name]
        damaged, touched = _damage(rng, originals[name], packets)
        try:
            got = events_of(decode(damaged))
        except IdexError as error:  # documented: the whole capture is unusable (e.g. nothing left)
            assert "capture" in str(error) or "packet" in str(error)
            continue
        if touched and all(b - a < 3000 for a, b in touched):  # local damage: the other events stay exact
            hit = {number for start, stop, number in science for a, b in touched if a < stop and b > start}
            for number in set(reference[name]["event"].values.tolist()) - hit:
                if number in got["event"].values:
                    assert same_event(got, reference[name], int(number)), (case, name, number)
                    checked += 1
    assert checked > 1000


@pytest.mark.parametrize("delay", [0.3, 1.5, 2.5, 4.0])
def test_a_killed_decode_never_leaves_a_broken_or_partial_file(tmp_path, delay):
    """``idex decode --all-groups --overwrite`` stopped by SIGTERM at some point: the previous good file is either
    untouched or replaced by a complete one, and no temporary file is left behind."""
    output = tmp_path / "tree.nc"
    previous = b"previous good file"
    output.write_bytes(previous)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "idex.apps.cli",
            "decode",
            str(CAPTURE_2023_12),
            "-o",
            str(output),
            "--all-groups",
            "--overwrite",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)  # the CLI's watchdog ends it within 10 s of the signal in any case
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail("idex decode did not end within 60 s of SIGTERM")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree.nc"]
    if output.read_bytes() != previous:
        tree = xr.open_datatree(output)
        assert tree["events"].sizes["event"] == 14 and "apid_1376" in tree.children


def _corrupted_variants(data: bytes, rng: np.random.Generator, count: int, protect: int = 0):
    """Truncations, bit flips (in the first ``protect`` bytes, where the structure lives, if given) and zeroed runs."""
    for _ in range(count):
        kind = rng.integers(0, 3)
        if kind == 0:
            yield data[: int(rng.integers(0, len(data)))]
            continue
        out = bytearray(data)
        if kind == 1:
            span = min(protect or len(data), len(data))
            for where in rng.integers(0, span, rng.integers(1, 8)):
                out[where] ^= 1 << int(rng.integers(0, 8))
        else:
            start = int(rng.integers(0, len(data)))
            stop = min(len(data), start + int(rng.integers(1, 64)))
            out[start:stop] = bytes(stop - start)
        yield bytes(out)


def test_every_corrupted_trace_is_read_or_refused_with_the_file_named(tmp_path):
    from idex.io.trc import TrcError, read_trc

    rng = np.random.default_rng(5)
    originals = sorted((DATA / "lecroy").glob("*.trc"))
    refused = read = 0
    for original in originals:
        for i, data in enumerate(_corrupted_variants(original.read_bytes(), rng, 150, protect=420)):
            path = tmp_path / f"{original.stem}_{i}.trc"
            path.write_bytes(data)
            try:
                trace = read_trc(path)
                trace.header.trigger_time, trace.header.timebase_text, trace.times  # noqa: B018
                read += 1
            except TrcError as error:
                assert str(path) in str(error)
                refused += 1
    assert refused > 100 and read > 50


def test_a_zero_wave_descriptor_is_refused(tmp_path):
    from idex.io.trc import TrcError, read_trc

    data = bytearray((DATA / "lecroy" / "pulse.trc").read_bytes())
    start = data.find(b"WAVEDESC")
    order = "little" if int.from_bytes(data[start + 34 : start + 36], "little") == 1 else "big"
    data[start + 36 : start + 40] = (0).to_bytes(4, order)
    (tmp_path / "zero.trc").write_bytes(bytes(data))
    with pytest.raises(TrcError, match="WAVE_DESCRIPTOR 0"):
        read_trc(tmp_path / "zero.trc")


def test_every_corrupted_cdf_is_read_or_refused_with_the_file_named(tmp_path):
    from idex.exceptions import ProductError

    rng = np.random.default_rng(6)
    refused = read = 0
    for original in (
        DATA / "imap_idex_l1a_sci-10days_20231214_v001.0001.cdf",
        DATA / "imap_idex_l1b_sci-10days_20231214_v001.0001.cdf",
    ):
        for i, data in enumerate(_corrupted_variants(original.read_bytes(), rng, 40, protect=4096)):
            path = tmp_path / f"{original.stem}_{i}.cdf"
            path.write_bytes(data)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    idex.open_cdf(path)
                read += 1
            except ProductError as error:
                assert str(path) in str(error)
                refused += 1
    assert refused > 20


def test_a_billion_laughs_schema_is_refused_quickly(tmp_path):
    from idex.exceptions import SchemaError

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}]"
        for i in range(1, 10)
    ]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    result = idex.validate_schema(path)
    assert not result.ok and any("aliases" in issue.message for issue in result.issues)
    with pytest.raises(SchemaError, match="aliases"):
        idex.decode_bytes(b"", schema=path)
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    "expression, problem",
    [
        ("(1 << 4000000000) * blocks", "shift"),
        ("blocks * 10 ** 100000", "exponent"),
        ("blocks + 123456789012345678901234567890", "integer"),
        ("+".join(["blocks"] * 2000), "long"),
    ],
)
def test_expressions_are_bounded(expression, problem):
    from idex.schema.expressions import Expression, ExpressionError

    with pytest.raises(ExpressionError, match=problem):
        Expression(expression)
