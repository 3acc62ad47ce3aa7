"""Live capture from a ground-system telemetry socket (GS-OASIS style: raw CCSDS packets over TCP).

Bytes are written to disk as they arrive (flushed and fsynced after every chunk), in files named
with the UTC time they were opened, rotated by size or age at packet boundaries so each file decodes
on its own. A dropped connection is retried with exponential backoff; after a reconnect the stream
either continues the current file (it resumed where it stopped) or starts a new one (it resumed at a
later packet: the old file then ends with the incomplete packet as received), so every file still
starts on a packet header and the files together hold exactly the bytes received. ``stop`` (set by
Ctrl+C or SIGTERM in the CLI) ends the capture cleanly with every received byte on disk. Optionally
each completed event is decoded on the fly and reported, before and after reconnects.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.decode.fields import extract_bits

__all__ = ["CaptureWriter", "LiveEvents", "PacketBoundary", "capture"]

log = logging.getLogger(__name__)

_MAX_PACKET = 65_542
"""Largest CCSDS packet: 6 header bytes and 65 536 data bytes."""


class PacketBoundary:
    """Follows CCSDS packet boundaries across arbitrary chunks (6-byte header, length field).

    A header that cannot start a packet (version or type bits set, or an APID outside ``known_apids``
    when given) is stepped over byte by byte until one can: the tracker finds its way back after a
    stream resumes mid-packet. Skipped bytes are counted in :attr:`skipped`, never returned.
    """

    def __init__(self, known_apids: frozenset[int] | None = None) -> None:
        self._pending = b""
        self.known_apids = known_apids
        self.skipped = 0

    def plausible(self, header: bytes) -> bool:
        """Whether ``header`` (at least 2 bytes) can start a telemetry packet."""
        return (header[0] >> 4) == 0 and (self.known_apids is None
                                           or ((header[0] & 7) << 8 | header[1]) in self.known_apids)

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the packets completed by it (in order)."""
        self._pending += data
        packets = []
        while len(self._pending) >= 6:
            if not self.plausible(self._pending):
                self._pending = self._pending[1:]
                self.skipped += 1
                continue
            size = 7 + int.from_bytes(self._pending[4:6], "big")
            if len(self._pending) < size:
                break
            packets.append(self._pending[:size])
            self._pending = self._pending[size:]
        return packets

    @property
    def pending(self) -> int:
        """Bytes received of the packet not yet complete."""
        return len(self._pending)

    @property
    def tail(self) -> bytes:
        """The bytes received of the packet not yet complete."""
        return self._pending

    def reset(self) -> None:
        """Forget the incomplete packet (the stream was cut and starts anew)."""
        self._pending = b""


class CaptureWriter:
    """Append bytes to UTC-stamped files in ``folder``, rotating by size and/or age at packet boundaries.

    After a dropped connection (:meth:`reconnected`) the writer keeps every file starting on a packet
    header: a stream that resumes where it stopped continues the current file; one that resumes at a
    later packet, the incomplete packet lost, closes the current file (which then ends with that packet's
    received bytes, exactly as received) and starts a new one. To tell the two apart it holds back the
    first bytes of the new connection until the incomplete packet could be completed and the next header
    seen (at most one packet, 65 kB).
    """

    def __init__(self, folder: PathLike, *, prefix: str = "idex_capture", rotate_bytes: int | None = None,
                 rotate_seconds: float | None = None, known_apids: frozenset[int] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.rotate_bytes, self.rotate_seconds = prefix, rotate_bytes, rotate_seconds
        self.files: list[Path] = []
        self.cuts = 0
        self._handle = None
        self._opened = 0.0
        self._size = 0
        self._boundary = PacketBoundary(known_apids)
        self._held: bytes | None = None  # bytes of a new connection while continuation is undecided

    def _open(self) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S_%fZ")
        path = self.folder / f"{self.prefix}_{stamp}.pkts"
        while path.exists():  # two rotations within one microsecond
            path = path.with_name(path.stem + "_1.pkts")
        self._handle = path.open("ab")
        self._opened, self._size = time.monotonic(), 0
        self.files.append(path)
        log.info("writing %s", path)

    def _due(self) -> bool:
        too_big = self.rotate_bytes is not None and self._size >= self.rotate_bytes
        too_old = self.rotate_seconds is not None and time.monotonic() - self._opened >= self.rotate_seconds
        return too_big or too_old

    def reconnected(self) -> None:
        """The connection dropped and a new one is up: the next bytes may continue the stream or restart it."""
        if self._held:  # the previous connection's first bytes were still undecided: they restarted the stream
            self._settle(continues=False)
        if self._boundary.pending == 0:
            self.close()  # aligned: the new connection starts a new file
        else:
            self._held = b""

    def write(self, data: bytes) -> list[bytes]:
        """Write ``data`` durably; return the packets it completed (for live decoding)."""
        if self._held is not None:
            self._held += data
            decision = self._continues(self._held)
            if decision is None:
                return []
            return self._settle(continues=decision)
        return self._append(data)

    def _continues(self, held: bytes) -> bool | None:
        """Whether ``held`` continues the incomplete packet; None while it cannot be told yet.

        Both readings (the incomplete packet completed by ``held``, then packets; or packets from the
        first byte of ``held``) are followed as far as their headers chain, once each has shown its
        second header; the longer chain wins, a tie goes to continuing.
        """
        combined = self._boundary.tail + held
        if len(held) < _MAX_PACKET:
            if len(combined) < 6 or len(combined) < self._packet_size(combined) + 6:
                return None
            if self._boundary.plausible(held[:2]) and (len(held) < 6 or len(held) < self._packet_size(held) + 6):
                return None
        return self._chain(combined, 0) >= self._chain(held, 0)

    @staticmethod
    def _packet_size(data: bytes) -> int:
        return 7 + int.from_bytes(data[4:6], "big")

    def _chain(self, data: bytes, at: int) -> int:
        """How many packets chain through ``data`` from offset ``at`` (plausible header, then its length)."""
        count = 0
        while at + 6 <= len(data) and self._boundary.plausible(data[at:at + 2]):
            count += 1
            at += 7 + int.from_bytes(data[at + 4:at + 6], "big")
        return count

    def _settle(self, *, continues: bool) -> list[bytes]:
        held, self._held = self._held or b"", None
        if not continues:
            log.warning("the stream resumed without the rest of a packet (%d bytes received): %s ends with them as "
                        "received; a new file starts", self._boundary.pending,
                        self.files[-1].name if self.files else "the capture")
            self.close()
            self._boundary.reset()
            self.cuts += 1
        return self._append(held)

    def _append(self, data: bytes) -> list[bytes]:
        packets = self._boundary.feed(data)
        if self._handle is not None and self._due() and packets:
            # A packet ended inside this chunk: rotate right after the last complete one, so every
            # file starts on a packet header. The bytes after it all belong to this chunk.
            split = len(data) - self._boundary.pending
            self._put(data[:split])
            self.close()
            self._put(data[split:])
        else:
            self._put(data)
        return packets

    def _put(self, data: bytes) -> None:
        """Write durably; a file is opened by its first byte, so no file is ever left empty."""
        if not data:
            return
        if self._handle is None:
            self._open()
        assert self._handle is not None
        self._handle.write(data)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._size += len(data)

    def close(self) -> None:
        """Write any held bytes, then flush and close the current file."""
        if self._held == b"":  # a new connection that sent nothing: no cut to make, no empty file
            self._held = None
        if self._held is not None:
            self._settle(continues=self._continues(self._held) is True)
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None


class LiveEvents:
    """Collect science packets as they arrive and decode each event once all its parts are in.

    Which packets are science, which type codes exist and where the event number, time, type and
    more-fragments flag sit all come from the packet schema.
    """

    def __init__(self, report: Callable[[xr.Dataset], None], *, schema: str | PathLike | None = None) -> None:
        from idex.schema import load_schema, loadable_schemas

        self.report = report
        self.schema = load_schema(schema) if schema else max(loadable_schemas(), key=lambda s: s.valid_from)
        self._events: dict[tuple[int, int], list[bytes]] = defaultdict(list)
        self._finished: dict[tuple[int, int], set[int]] = defaultdict(set)
        self._needed = {self.schema.header_type_code, *self.schema.channel_by_type}

    def _field(self, packet: np.ndarray, role: str) -> int:
        field = self.schema.subheader_field(role)
        return int(extract_bits(packet, np.zeros(1, np.int64), field.offset, field.bits)[0])

    def feed(self, packets: list[bytes]) -> None:
        """Take newly completed packets; decode and report every event they complete."""
        from idex.decode.raw import decode_bytes
        from idex.exceptions import PacketWarning

        for packet in packets:
            array = np.frombuffer(packet, np.uint8)
            if ((packet[0] & 7) << 8 | packet[1]) != self.schema.science_apid or len(packet) < self.schema.payload_offset:
                continue
            key = (self._field(array, "event_time"), self._field(array, "event_number"))
            self._events[key].append(packet)
            kind = self._field(array, "packet_type")
            if kind == self.schema.header_type_code or not self._field(array, "more_fragments"):
                self._finished[key].add(kind)
            if self._finished[key] >= self._needed:
                data = b"".join(self._events.pop(key))
                self._finished.pop(key)
                with warnings.catch_warnings():  # an incomplete event is reported with its quality flags set
                    warnings.simplefilter("ignore", PacketWarning)
                    self.report(decode_bytes(data, source="live")["events"].to_dataset())


def capture(host: str, port: int, writer: CaptureWriter, stop: threading.Event, *,
            on_packets: Callable[[list[bytes]], None] | None = None, max_backoff: float = 30.0,
            timeout: float = 0.5) -> int:
    """Receive from ``host:port`` into ``writer`` until ``stop`` is set; reconnect with backoff.

    Returns
    -------
    int
        Bytes received.
    """
    received, backoff, connections = 0, 0.25, 0
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=5) as connection:
                log.info("connected to %s:%d", host, port)
                connections += 1
                if connections > 1:
                    writer.reconnected()
                backoff = 0.25
                connection.settimeout(timeout)
                while not stop.is_set():
                    try:
                        chunk = connection.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        log.warning("%s:%d closed the connection; reconnecting", host, port)
                        break
                    received += len(chunk)
                    packets = writer.write(chunk)
                    if on_packets is not None and packets:
                        on_packets(packets)
        except OSError as error:
            log.warning("cannot reach %s:%d (%s); retrying in %.1f s", host, port, error, backoff)
        if stop.wait(backoff):
            break
        backoff = min(backoff * 2, max_backoff)
    writer.close()
    return received
