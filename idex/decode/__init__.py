"""From bytes to the event model: framing, bit fields, waveforms, Rice, event assembly, ``open_raw``.

Layer 4, above :mod:`idex.model`: owns CCSDS framing and CRC (:mod:`~idex.decode.framing`), vectorised
bit-field extraction (:mod:`~idex.decode.fields`), waveform unpacking (:mod:`~idex.decode.waveform`) and
Rice decompression (:mod:`~idex.decode.rice`), instrument messages (:mod:`~idex.decode.messages`), the
assembly of packets into events with every irregularity flagged (:mod:`~idex.decode.assembly`,
:mod:`~idex.decode.problems`) and the entry points ``open_raw``/``decode_bytes`` (:mod:`~idex.decode.raw`), which
call the schema choice (:mod:`~idex.decode.schema_choice`), the gap reports (:mod:`~idex.decode.gaps`), the packet
table (:mod:`~idex.decode.packet_table`) and the raw APID nodes (:mod:`~idex.decode.raw_nodes`).
It may import the foundation modules, :mod:`idex.schema` and :mod:`idex.model`.
"""
