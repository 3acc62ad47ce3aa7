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
from idex.decode.fields import extract, extract_bits
from idex.decode.framing import GAP_TRUNCATED, NOT_CHECKED, Framing, frame
from idex.decode.messages import decode_messages
from idex.decode.problems import Reporter
from idex.decode.versions import flag_outside_validity, schema_per_packet
from idex.exceptions import MissingKeyError
from idex.model.dataset import empty_events_dataset, events_dataset
from idex.model.timing import met_to_utc
from idex.model.versions import combine_versions
from idex.schema import Schema, load_schema, loadable_schemas
from idex.schema.ccsds import LENGTH_BIAS, PRIMARY_HEADER, PRIMARY_HEADER_BYTES

__all__ = ["open_raw", "decode_bytes", "choose_schema"]


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
    apids = (extract_bits(buffer, framing.starts, 5, 11)).astype(np.uint16)
    if schema is not None:
        chosen, evidence = candidates[0], f"{candidates[0].name}: given by the caller"
    else:
        chosen, evidence = choose_schema(buffer, framing.starts, apids, candidates, report)
    _report_gaps(buffer, framing, apids, chosen, report)
    packets = _packet_table(buffer, framing, apids, chosen)
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
        nodes.update(_raw_apid_nodes(buffer, framing, packets, exclude=chosen.science_apid))
    if chosen.messages is not None:
        is_message = (packets["apid"].values == chosen.messages.apid) & (
            packets["length"].values >= chosen.messages.length
        )
        if is_message.any():
            nodes["event_messages"] = decode_messages(buffer, framing.starts[is_message], chosen)
    if report.problems:
        nodes["problems"] = xr.Dataset(
            {
                "offset": (
                    "problem",
                    np.array([p.offset for p in report.problems], np.int64),
                    {"long_name": "Byte offset in the capture (-1: not tied to one packet)"},
                ),
                "event_number": (
                    "problem",
                    np.array([p.event for p in report.problems], np.int64),
                    {"long_name": "Event number (-1: not tied to one event)"},
                ),
                "message": ("problem", np.array([p.message for p in report.problems], dtype=object)),
            }
        )
    tree = xr.DataTree.from_dict(nodes)
    if "idex_schemas" in events.attrs:  # two packet versions: each event took its own
        evidence += f"; events decoded with {events.attrs['idex_schemas']} by their dates (see packet_schema)"
    tree.attrs.update(
        {"source": source, "idex_schema": events.attrs.get("idex_schema", chosen.name), "idex_schema_choice": evidence}
    )
    return tree


def choose_schema(
    buffer: np.ndarray, starts: np.ndarray, apids: np.ndarray, candidates: list[Schema], report: Reporter | None = None
) -> tuple[Schema, str]:
    """Pick the schema of a capture: content evidence first, then the date among the schemas the bits allow.

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture.
    starts, apids : numpy.ndarray
        Byte offset and APID of every packet.
    candidates : list of Schema
        Schemas to choose from.
    report : Reporter, optional
        Receives a warning when no schema fits the bits or the capture's date lies outside the
        validity of every schema that does.

    Returns
    -------
    Schema, str
        The schema and the evidence for it, in words (kept in the tree's ``idex_schema_choice``).

    The bits tell layouts apart where they can: a schema is allowed when the capture's event-header
    packets have the length its header fields and trailer make. The two published versions share that
    length (and ``IDX__SCI0VER``, flight-software and FPGA versions), so between them the date of the
    first science packet decides, the way mission ancillary files carry validity ranges.
    """
    lengths = _header_lengths(buffer, starts, apids, candidates)
    allowed = [s for s in candidates if not lengths or s.header_packet_bytes in lengths]
    seen = f"event-header packets of {', '.join(map(str, sorted(lengths)))} bytes" if lengths else "no event header"
    if not allowed:
        expected = ", ".join(f"{s.name}: {s.header_packet_bytes}" for s in candidates)
        if report is not None:
            report(f"{seen} fit no schema (expected {expected}); header fields may be mis-decoded")
        allowed = candidates
    when = _first_science_time(buffer, starts, apids, allowed)
    # newest first; among schemas valid from the same date the later-listed one, as the overlap warning says
    dated = sorted(allowed, key=lambda s: s.valid_from)[::-1]
    covering = [s for s in dated if when is not None and s.covers(when)]
    chosen = covering[0] if covering else dated[0]
    stamp = np.datetime_as_string(when, unit="s") if when is not None else "no science packet"
    if not covering and report is not None and when is not None:
        windows = "; ".join(f"{s.name} {_window(s)}" for s in dated)
        report(
            f"the first science packet is dated {stamp}, outside the validity of every schema that fits its bits "
            f"({windows}); decoded with the newest, {chosen.name} (pass schema= to choose)"
        )
    evidence = (
        f"{chosen.name}: {seen} allow {', '.join(s.name for s in allowed)}; first science packet dated "
        f"{stamp}, {'inside' if covering else 'outside'} its validity {_window(chosen)}"
    )
    return chosen, evidence


def _header_lengths(buffer: np.ndarray, starts: np.ndarray, apids: np.ndarray, candidates: list[Schema]) -> set[int]:
    """Lengths of the capture's event-header packets (science packets whose type is the header's)."""
    lengths: set[int] = set()
    for schema in candidates:
        science = np.flatnonzero(apids == schema.science_apid)
        length = extract_bits(buffer, starts[science], *PRIMARY_HEADER["packet_length"])
        size = PRIMARY_HEADER_BYTES + LENGTH_BIAS + length  # bytes of each science packet
        field = schema.subheader_field("packet_type")
        typed = size * 8 >= field.offset + field.bits
        kind = extract(buffer, starts[science[typed]], field)
        lengths |= {int(v) for v in size[typed][kind == schema.header_type_code]}
    return lengths


def _first_science_time(
    buffer: np.ndarray, starts: np.ndarray, apids: np.ndarray, candidates: list[Schema]
) -> np.datetime64 | None:
    schema = candidates[0]
    first = np.flatnonzero(apids == schema.science_apid)
    if first.size == 0:
        return None
    coarse, fine = schema.packet_time_fields
    return met_to_utc(
        extract_bits(buffer, starts[first[:1]], coarse.offset, coarse.bits),
        extract_bits(buffer, starts[first[:1]], fine.offset, fine.bits),
        epoch=schema.met_epoch,
        fine_tick_s=schema.fine_tick_s,
    )[0]


def _window(schema: Schema) -> str:
    end = np.datetime_as_string(schema.valid_until, unit="D") if schema.valid_until is not None else "open"
    return f"[{np.datetime_as_string(schema.valid_from, unit='D')} .. {end})"


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
        lengths = _header_lengths(buffer, framing.starts, packets["apid"].values, candidates)
        allowed = [s for s in candidates if not lengths or s.header_packet_bytes in lengths] or candidates
        versions, which[sized] = schema_per_packet(buffer, starts[sized], allowed, chosen)
    if len(versions) == 1:
        return events_dataset(assemble_events(buffer, starts, ends, crc_ok, chosen, report), chosen, source=source)
    parts = []
    for i, version in enumerate(versions):
        mine = which == i
        assembled = assemble_events(buffer, starts[mine], ends[mine], crc_ok[mine], version, report)
        parts.append(events_dataset(assembled, version, source=source))
    combined = combine_versions(parts)
    return combined.isel(event=np.argsort(combined["epoch"].values, kind="stable"))


def _report_gaps(buffer: np.ndarray, framing: Framing, apids: np.ndarray, schema: Schema, report: Reporter) -> None:
    """Report every byte range that did not frame, with its offset and the events whose packets surround it."""
    science = np.flatnonzero(apids == schema.science_apid)
    long_enough = science[(framing.ends[science] - framing.starts[science]) >= schema.payload_offset]
    numbers = extract(buffer, framing.starts[long_enough], schema.subheader_field("event_number"))
    for start, stop, kind in zip(framing.gap_starts, framing.gap_ends, framing.gap_kinds, strict=True):
        before = np.searchsorted(framing.starts[long_enough], start) - 1
        after = np.searchsorted(framing.starts[long_enough], stop)
        around = sorted({int(numbers[i]) for i in (before, after) if 0 <= i < numbers.size})
        where = f" (between science packets of event {' and '.join(map(str, around))})" if around else ""
        if kind == GAP_TRUNCATED:
            report(
                f"last packet is truncated: {stop - start} bytes remain of the length its header announces; "
                f"skipped{where}",
                offset=int(start),
            )
        else:
            report(
                f"{stop - start} bytes do not frame as packets (garbage or corrupted length field); skipped{where}",
                offset=int(start),
            )


def _packet_table(buffer: np.ndarray, framing: Framing, apid: np.ndarray, schema: Schema) -> xr.Dataset:
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


def _raw_apid_nodes(
    buffer: np.ndarray, framing: Framing, packets: xr.Dataset, *, exclude: int
) -> dict[str, xr.Dataset]:
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
