"""The packets of every APID other than science kept as their bytes (the ``/apid_<N>`` nodes of
:func:`idex.decode.raw.open_raw`), so that nothing is lost, and the way back to each packet's bytes."""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex.decode.framing import Framing

__all__ = ["raw_apid_nodes", "raw_packets"]


def raw_apid_nodes(buffer: np.ndarray, framing: Framing, packets: xr.Dataset, *, exclude: int) -> dict[str, xr.Dataset]:
    """One node per APID other than ``exclude``: its packets' bytes as a CF contiguous ragged array."""
    nodes = {}
    apids = packets["apid"].values
    for apid in np.unique(apids):
        if apid == exclude:
            continue
        index = np.flatnonzero(apids == apid)
        starts, ends = framing.starts[index], framing.ends[index]
        raw = np.concatenate([buffer[a:b] for a, b in zip(starts, ends, strict=True)]).astype(np.uint8, copy=False)
        nodes[f"apid_{apid}"] = xr.Dataset(
            {
                "packet_index": ("packet", index, {"long_name": "Row in /packets"}),
                "packet_length": (
                    "packet",
                    (ends - starts).astype(np.uint32),
                    {"long_name": "Bytes of each packet in raw", "units": "bytes", "sample_dimension": "byte"},
                ),
                "raw": (
                    "byte",
                    raw,
                    {
                        "long_name": "Whole packet bytes, one packet after another "
                        "(CF contiguous ragged array counted by packet_length)"
                    },
                ),
            },
            attrs={"apid": int(apid), "description": "Raw packets kept undecoded so that nothing is lost"},
        )
    return nodes


def raw_packets(node: xr.Dataset) -> list[bytes]:
    """The packets of a ``/apid_<N>`` node, each as its bytes.

    Examples
    --------
    >>> import idex
    >>> node = idex.open_raw(idex.testing.sample_capture(), group="apid_1418")
    >>> [len(packet) for packet in raw_packets(node)]
    [28, 28, 28, 28]
    """
    raw = node["raw"].values.tobytes()
    stops = np.cumsum(node["packet_length"].values.astype(np.int64))
    return [raw[a:b] for a, b in zip(np.r_[0, stops[:-1]], stops, strict=True)]
