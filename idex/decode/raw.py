"""Open a raw telemetry capture: framing, schema choice, event assembly, and the result tree.

``open_raw`` returns an ``xarray.DataTree``:

``/events``
    the event model (see ``docs/model.md``);
``/packets``
    one row per CCSDS packet of every APID: byte offset, length, APID, sequence flags and count,
    MET of the secondary header, and the CRC result;
``/apid_<N>``
    for every APID other than science, the raw bytes of each of its packets, so nothing is lost;
``/event_messages``
    the instrument's log messages (APID 1418) decoded: time, id, name, parameters and text;
``/problems``
    every problem found while decoding (byte offset, event, message), present only if any.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.decode.assembly import assemble_events
from idex.decode.fields import extract_bits
from idex.decode.framing import Framing, frame
from idex.decode.gaps import report_gaps
from idex.decode.messages import decode_messages
from idex.decode.packet_table import packet_table
from idex.decode.problems import Reporter
from idex.decode.raw_nodes import raw_apid_nodes, raw_packets
from idex.decode.schema_choice import choose_schema, header_lengths
from idex.decode.versions import flag_outside_validity, schema_per_packet
from idex.exceptions import MissingKeyError
from idex.model.dataset import empty_events_dataset, events_dataset
from idex.model.versions import combine_versions
from idex.schema import Schema, load_schema, loadable_schemas
from idex.schema.ccsds import PRIMARY_HEADER

# choose_schema and raw_packets live in idex.decode.schema_choice and idex.decode.raw_nodes; named here too, where
# they were first published
__all__ = ["open_raw", "decode_bytes", "choose_schema", "raw_packets"]


@overload
def open_raw(
    path: PathLike, *, schema: str | PathLike | Schema | None = None, group: None = None, strict: bool = False
) -> xr.DataTree: ...


@overload
def open_raw(
    path: PathLike, *, schema: str | PathLike | Schema | None = None, group: str, strict: bool = False
) -> xr.Dataset: ...


def open_raw(
    path: PathLike,
    *,
    schema: str | PathLike | Schema | None = None,
    group: str | None = None,
    strict: bool = False,
) -> xr.DataTree | xr.Dataset:
    """Decode a raw IDEX capture (concatenated CCSDS packets) into the event model.

    Parameters
    ----------
    path : str or path
        The capture file.
    schema : str, path or Schema, optional
        Packet schema (shipped name, YAML path or loaded schema). By default it is chosen from the
        time of the first science packet and each shipped schema's validity range
        (:func:`choose_schema`).
    group : str, optional
        Return only this node of the tree as a Dataset, e.g. ``"events"``.
    strict : bool
        Raise :class:`~idex.exceptions.PacketDecodeError` on the first problem instead of
        warning, flagging and going on.

    Returns
    -------
    xarray.DataTree or xarray.Dataset
        The tree described in the module docstring, or one of its nodes when ``group`` is given.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> ds.sizes["event"], ds["tof_high"].dtype
    (14, dtype('uint16'))
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"no such capture file: {path}")
    # Memory-mapped, not read: the capture costs no private memory, and every decoded array is a copy.
    buffer = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
    tree = decode_bytes(
        buffer, schema=schema, strict=strict, source=path.name, raw_nodes=group is None or group.startswith("apid_")
    )
    del buffer
    if group is None:
        return tree
    if group not in tree.children:
        raise MissingKeyError(f"{path.name} has no group {group!r}; groups are {sorted(tree.children)}")
    return tree[group].to_dataset()


def decode_bytes(
    buffer: np.ndarray | bytes,
    *,
    schema: str | PathLike | Schema | None = None,
    strict: bool = False,
    source: str = "<bytes>",
    raw_nodes: bool = True,
) -> xr.DataTree:
    """Decode a capture held in memory; see :func:`open_raw` for the parameters and the result.

    ``raw_nodes=False`` leaves out the ``/apid_<N>`` nodes (when only the events are wanted).
    """
    # A plain ndarray (a view of a memmap's pages): indexing the memmap subclass costs microseconds per call.
    buffer = (
        np.frombuffer(buffer, dtype=np.uint8)
        if isinstance(buffer, (bytes, bytearray))
        else np.asarray(buffer).view(np.ndarray)
    )
    report = Reporter(source, strict=strict)
    candidates = [load_schema(schema)] if schema is not None else loadable_schemas()
    known = frozenset().union(*(s.known_apids for s in candidates))
    with_crc = frozenset().union(*(s.crc_apids for s in candidates))
    if buffer.size == 0:
        report("the capture is empty")
    framing = frame(buffer, known, with_crc)
    apids = (extract_bits(buffer, framing.starts, *PRIMARY_HEADER["apid"])).astype(np.uint16)
    if schema is not None:
        chosen, evidence = candidates[0], f"{candidates[0].name}: given by the caller"
    else:
        chosen, evidence = choose_schema(buffer, framing.starts, apids, candidates, report)
    report_gaps(buffer, framing, apids, chosen, report)
    packets = packet_table(buffer, framing, apids, chosen)
    science = packets["apid"].values == chosen.science_apid
    if not science.any():
        present = sorted({int(a) for a in packets["apid"].values})
        if buffer.size:
            report(f"no science packets (APID {chosen.science_apid}); APIDs present: {present}")
        events = empty_events_dataset(chosen, source=source)
    else:
        events = _science_events(
            buffer, framing, packets, science, chosen, candidates if schema is None else [], report, source
        )
        if schema is not None:
            flag_outside_validity(events, chosen, loadable_schemas(), report)
    nodes: dict[str, xr.Dataset] = {"events": events, "packets": packets}
    if raw_nodes:
        nodes.update(raw_apid_nodes(buffer, framing, packets, exclude=chosen.science_apid))
    if chosen.messages is not None:
        is_message = (packets["apid"].values == chosen.messages.apid) & (
            packets["length"].values >= chosen.messages.length
        )
        if is_message.any():
            nodes["event_messages"] = decode_messages(buffer, framing.starts[is_message], chosen)
    if report.problems:
        nodes["problems"] = report.dataset()
    tree = xr.DataTree.from_dict(nodes)
    if "idex_schemas" in events.attrs:  # two packet versions: each event took its own
        evidence += f"; events decoded with {events.attrs['idex_schemas']} by their dates (see packet_schema)"
    tree.attrs.update(
        {"source": source, "idex_schema": events.attrs.get("idex_schema", chosen.name), "idex_schema_choice": evidence}
    )
    return tree


def _science_events(
    buffer: np.ndarray,
    framing: Framing,
    packets: xr.Dataset,
    science: np.ndarray,
    chosen: Schema,
    candidates: list[Schema],
    report: Reporter,
    source: str,
) -> xr.Dataset:
    """Assemble the science packets into the event model, each event with the schema its date and bits call for
    (:mod:`idex.decode.versions`; only ``chosen`` when ``candidates`` is empty: a schema given by the caller)."""
    starts, ends = framing.starts[science], framing.ends[science]
    crc_ok = packets["crc"].values[science] != 0
    sized = (ends - starts) >= chosen.payload_offset
    versions, which = [chosen], np.zeros(starts.size, np.int64)
    if candidates and sized.any():
        lengths = header_lengths(buffer, framing.starts, packets["apid"].values, candidates)
        allowed = [s for s in candidates if not lengths or s.header_packet_bytes in lengths] or candidates
        versions, which[sized] = schema_per_packet(buffer, starts[sized], allowed, chosen)
    if len(versions) == 1:
        return events_dataset(assemble_events(buffer, starts, ends, crc_ok, chosen, report), chosen, source=source)
    parts = []
    for i, version in enumerate(versions):
        mine = which == i
        assembled = assemble_events(buffer, starts[mine], ends[mine], crc_ok[mine], version, report)
        parts.append(events_dataset(assembled, version, source=source))
    epochs = np.concatenate([part["epoch"].values for part in parts])
    return combine_versions(parts, order=np.argsort(epochs, kind="stable"))
