"""The table of every CCSDS packet of a capture (the ``/packets`` node of :func:`idex.decode.raw.open_raw`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex.decode.fields import extract_bits
from idex.decode.framing import NOT_CHECKED, Framing
from idex.schema import Schema
from idex.schema.ccsds import PRIMARY_HEADER

__all__ = ["packet_table"]


def packet_table(buffer: np.ndarray, framing: Framing, apid: np.ndarray, schema: Schema) -> xr.Dataset:
    """The ``/packets`` node: one row per CCSDS packet of every APID (offset, length, APID, sequence flags and count,
    MET of the secondary header, CRC result), in file order."""
    starts, ends = framing.starts, framing.ends
    primary = {
        name: extract_bits(buffer, starts, *PRIMARY_HEADER[name])
        for name in ("sec_hdr_flag", "sequence_flags", "sequence_count")
    }
    # the framing checked the CRC of every APID any candidate schema declares one for; keep the chosen schema's
    crc = np.where(np.isin(apid, list(schema.crc_apids)), framing.crc, NOT_CHECKED).astype(np.int8)
    has_time = (primary["sec_hdr_flag"] == 1) & (ends - starts >= 12)
    coarse, fine = schema.packet_time_fields
    met = np.full(starts.size, np.nan)
    met[has_time] = (
        extract_bits(buffer, starts[has_time], coarse.offset, coarse.bits)
        + extract_bits(buffer, starts[has_time], fine.offset, fine.bits) * schema.fine_tick_s
    )
    return xr.Dataset(
        {
            "offset": ("packet", starts, {"long_name": "Byte offset of the packet in the capture"}),
            "length": ("packet", (ends - starts).astype(np.uint32), {"long_name": "Packet length", "units": "bytes"}),
            "apid": ("packet", apid, {"long_name": "Application process identifier"}),
            "sequence_flags": ("packet", primary["sequence_flags"].astype(np.uint8), {"long_name": "Sequence flags"}),
            "sequence_count": (
                "packet",
                primary["sequence_count"].astype(np.uint16),
                {"long_name": "Source sequence count"},
            ),
            "met": ("packet", met, {"long_name": "Mission elapsed time of the secondary header", "units": "s"}),
            "crc": (
                "packet",
                crc,
                {"long_name": "CRC-16 check", "flag_values": [-1, 0, 1], "flag_meanings": "not_checked mismatch ok"},
            ),
        },
        attrs={"description": "Every CCSDS packet of the capture, in file order"},
    )
