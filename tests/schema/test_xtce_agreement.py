"""Each YAML schema agrees with its XTCE twin, checked with space_packet_parser as an independent oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CAPTURE_2023_07, CAPTURE_2023_12

import idex

spp = pytest.importorskip("space_packet_parser")

CASES = [("science_2023_07", CAPTURE_2023_07), ("science_2023_12", CAPTURE_2023_12)]


def _container_entries(definition, name):
    return [entry for entry in definition.containers[name].entry_list if hasattr(entry, "parameter_type")]


@pytest.mark.parametrize("schema_name", [name for name, _ in CASES])
def test_fields_match_xtce_layout(schema_name):
    schema = idex.load_schema(schema_name)
    definition = spp.load_xtce(schema.xtce)
    for ours, container in ((schema.subheader, "IDX_SCI0"), (schema.header_fields, "Sci0TypeZero")):
        entries = _container_entries(definition, container)
        if container == "Sci0TypeZero":
            entries = entries[:-2]  # sync word and CRC trail the header; the schema declares them as trailer_bits
        assert [f.mnemonic for f in ours] == [e.name for e in entries]
        assert [f.bits for f in ours] == [e.parameter_type.encoding.size_in_bits for e in entries]
    secondary = _container_entries(definition, "SecondaryHeaderContainer")
    assert [f.bits for f in schema.secondary_header] == [e.parameter_type.encoding.size_in_bits for e in secondary]
    assert schema.header_end * 8 + schema.trailer_bits == (
        schema.header_fields[0].offset + sum(f.bits for f in schema.header_fields) + 32
    )


@pytest.fixture(scope="module", params=CASES, ids=[name for name, _ in CASES])
def decoded_both_ways(request):
    schema_name, capture = request.param
    schema = idex.load_schema(schema_name)
    definition = spp.load_xtce(schema.xtce)
    parsed = [
        definition.parse_bytes(packet)
        for packet in spp.ccsds_generator(capture.read_bytes())
        if packet.apid == schema.science_apid
    ]
    ours = idex.open_raw(capture, schema=schema_name, group="events")
    return schema, parsed, ours


def test_every_header_field_equals_xtce_decode(decoded_both_ways):
    schema, parsed, ours = decoded_both_ways
    headers = {int(p["IDX__SCI0EVTNUM"]): p for p in parsed if int(p["IDX__SCI0TYPE"]) == schema.header_type_code}
    assert sorted(headers) == ours["event"].values.tolist()
    for field in (*schema.header_fields, *(f for f in schema.subheader if f.per_event)):
        if field.name is None or field.name == schema.roles["event_number"]:
            continue
        expected = [
            getattr(headers[n][field.mnemonic], "raw_value", headers[n][field.mnemonic]) for n in ours["event"].values
        ]
        np.testing.assert_array_equal(ours[field.name].values, np.array(expected, dtype=np.int64), err_msg=field.name)


def _unpack_bytes(payload: bytes, channel) -> list[int]:
    """Plain-Python reference unpacking: big-endian words, samples MSB first after the pad bits."""
    samples = []
    mask = (1 << channel.sample_bits) - 1
    for start in range(0, len(payload), channel.word_bytes):
        word = int.from_bytes(payload[start : start + channel.word_bytes], "big")
        for s in range(channel.samples_per_word):
            samples.append((word >> ((channel.samples_per_word - 1 - s) * channel.sample_bits)) & mask)
    return samples[: channel.n_samples]


def test_every_waveform_sample_equals_xtce_decode(decoded_both_ways):
    schema, parsed, ours = decoded_both_ways
    for channel in schema.channels.values():
        for number in ours["event"].values:
            fragments = sorted(
                (int(p["IDX__SCI0FRAGOFF"]), p["IDX__SCI0RAW"])
                for p in parsed
                if int(p["IDX__SCI0EVTNUM"]) == number and int(p["IDX__SCI0TYPE"]) == channel.type_code
            )
            expected = _unpack_bytes(b"".join(bytes(raw) for _, raw in fragments), channel)
            np.testing.assert_array_equal(
                ours[channel.name].sel(event=number).values, expected, err_msg=f"{channel.name} event {number}"
            )
