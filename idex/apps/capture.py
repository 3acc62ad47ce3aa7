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

import contextlib
import errno
import functools
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, TypeVar

import xarray as xr

from idex._typing import PathLike
from idex.apps.capture_events import EventParts
from idex.exceptions import ExportError

__all__ = ["CaptureWriter", "LiveEvents", "PacketBoundary", "capture"]

log = logging.getLogger(__name__)
T = TypeVar("T")

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
        self._offset = 0  # stream offset of the first pending byte
        self.known_apids = known_apids
        self.skipped = 0
        self.starts: list[int] = []  # stream offsets of the packets the last feed returned

    def plausible(self, header: bytes) -> bool:
        """Whether ``header`` (at least 2 bytes) can start a telemetry packet."""
        return (header[0] >> 4) == 0 and (
            self.known_apids is None or ((header[0] & 7) << 8 | header[1]) in self.known_apids
        )

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the packets completed by it (in order)."""
        self._pending += data
        packets, self.starts = [], []
        while len(self._pending) >= 6:
            if not self.plausible(self._pending):
                self._pending = self._pending[1:]
                self._offset += 1
                self.skipped += 1
                continue
            size = 7 + int.from_bytes(self._pending[4:6], "big")
            if len(self._pending) < size:
                break
            packets.append(self._pending[:size])
            self.starts.append(self._offset)
            self._pending = self._pending[size:]
            self._offset += size
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
        self._offset += len(self._pending)
        self._pending = b""


class CaptureWriter:
    """Append bytes to UTC-stamped files in ``folder``, rotating by size and/or age at event boundaries.

    Given the schema's event structure (``events``), a file ends only where no event is cut in two
    (:class:`~idex.apps.capture_events.EventParts`); without it, at any packet boundary. Rotation by
    size keeps every file within ``rotate_bytes`` unless it holds a single larger event: when an event
    crosses the limit, the bytes it already has in the file move to the next file (written and synced
    there before the old file is truncated, so no byte is ever only in memory). Rotation by age
    happens at the first event boundary after the age is reached.

    After a dropped connection (:meth:`reconnected`) the writer keeps every file starting on a packet
    header: a stream that resumes where it stopped continues the current file; one that resumes at a
    later packet, the incomplete packet lost, closes the current file (which then ends with that packet's
    received bytes, exactly as received) and starts a new one. To tell the two apart it holds back the
    first bytes of the new connection until the incomplete packet could be completed and the next header
    seen (at most one packet, 65 kB).
    """

    def __init__(
        self,
        folder: PathLike,
        *,
        prefix: str = "idex_capture",
        rotate_bytes: int | None = None,
        rotate_seconds: float | None = None,
        known_apids: frozenset[int] | None = None,
        events: EventParts | None = None,
    ) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            why = "a symbolic link to a missing folder" if self.folder.is_symlink() else error.strerror or error
            raise ExportError(f"cannot create the capture folder {self.folder}: {why}") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ExportError(f"cannot write in the capture folder {self.folder}: read-only or permission denied")
        self.events = events
        self._written = 0  # stream offset of the next byte to write
        self._file_start = 0  # stream offset of the current file's first byte
        self._last_boundary = 0  # stream offset of the latest place a file may end
        self.prefix, self.rotate_bytes, self.rotate_seconds = prefix, rotate_bytes, rotate_seconds
        self.files: list[Path] = []
        self.cuts = 0
        self._handle: BinaryIO | None = None
        self._opened = 0.0
        self._boundary = PacketBoundary(known_apids)
        self._held: bytes | None = None  # bytes of a new connection while continuation is undecided

    def _open(self, start: int) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S_%fZ")
        path = self.folder / f"{self.prefix}_{stamp}.pkts"
        while path.exists():  # two rotations within one microsecond
            path = path.with_name(path.stem + "_1.pkts")
        self._handle = path.open("ab")
        self._opened, self._file_start = time.monotonic(), start
        self.files.append(path)
        log.info("writing %s", path)

    def _cut_before(self, start: int) -> int | None:
        """Where to end the current file, given that one may end at ``start``: there, earlier, or not yet."""
        if self._handle is None or start <= self._file_start:
            return None
        size = start - self._file_start
        if self.rotate_bytes is not None and size > self.rotate_bytes and self._last_boundary > self._file_start:
            return self._last_boundary  # the event that crossed the limit goes to the next file
        too_big = self.rotate_bytes is not None and size >= self.rotate_bytes
        too_old = self.rotate_seconds is not None and time.monotonic() - self._opened >= self.rotate_seconds
        return start if too_big or too_old else None

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
        while at + 6 <= len(data) and self._boundary.plausible(data[at : at + 2]):
            count += 1
            at += 7 + int.from_bytes(data[at + 4 : at + 6], "big")
        return count

    def _settle(self, *, continues: bool) -> list[bytes]:
        held, self._held = self._held or b"", None
        if not continues:
            log.warning(
                "the stream resumed without the rest of a packet (%d bytes received): %s ends with them as "
                "received; a new file starts",
                self._boundary.pending,
                self.files[-1].name if self.files else "the capture",
            )
            self.close()
            self._boundary.reset()
            self.cuts += 1
        return self._append(held)

    def _append(self, data: bytes) -> list[bytes]:
        chunk_start, done = self._written, 0
        packets = self._boundary.feed(data)
        for packet, start in zip(packets, self._boundary.starts, strict=True):
            if self.events is not None and not self.events.boundary(packet):
                continue
            while (cut := self._cut_before(start)) is not None:
                if cut >= chunk_start + done:  # the cut is in this chunk: write up to it
                    self._put(data[done : cut - chunk_start])
                    done = cut - chunk_start
                    self.close()
                else:  # bytes already in the file belong to the next one: move them
                    self._move(cut)
            self._last_boundary = start
        self._put(data[done:])
        return packets

    def _move(self, cut: int) -> None:
        """End the current file at stream offset ``cut``; what it holds after that starts the next file."""
        assert self._handle is not None
        old, keep = self._handle, cut - self._file_start
        with self.files[-1].open("rb") as reader:
            reader.seek(keep)
            moved = reader.read()
        self._handle = None
        self._open(cut)
        self._write(moved)
        old.truncate(keep)
        old.flush()
        os.fsync(old.fileno())
        old.close()
        log.info(
            "%s ends at an event boundary (%d bytes); the event in progress continues in %s",
            self.files[-2].name,
            keep,
            self.files[-1].name,
        )

    def _put(self, data: bytes) -> None:
        """Write durably; a file is opened by its first byte, so no file is ever left empty."""
        if not data:
            return
        if self._handle is None:
            self._open(self._written)
        self._write(data)
        self._written += len(data)

    def _write(self, data: bytes) -> None:
        assert self._handle is not None
        self._handle.write(data)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Write any held bytes, then flush and close the current file."""
        if self._held == b"":  # a new connection that sent nothing: no cut to make, no empty file
            self._held = None
        if self._held is not None:
            self._settle(continues=self._continues(self._held) is True)
        over = self.rotate_bytes is not None and self._written - self._file_start > self.rotate_bytes
        if self._handle is not None and over and self._last_boundary > self._file_start:
            self._move(self._last_boundary)  # the stream stopped: still end the file within its limit
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                handle.close()
                if self.files and self.files[-1].stat().st_size == 0:  # a write failed before any byte landed
                    self.files.pop().unlink()


class LiveEvents:
    """Collect science packets as they arrive and decode each event once all its parts are in.

    Which packets are science, which type codes exist and where the event number, time, type and
    more-fragments flag sit all come from the packet schema. What is held for events not yet complete
    is bounded: beyond ``max_pending`` events or ``max_pending_bytes`` bytes, the oldest incomplete
    event is dropped from live decoding and counted in :attr:`dropped`, with a warning (the capture
    files keep every byte; only the live report misses it).
    """

    def __init__(
        self,
        report: Callable[[xr.Dataset], None],
        *,
        schema: str | PathLike | None = None,
        max_pending: int = 256,
        max_pending_bytes: int = 64 << 20,
    ) -> None:
        from idex.schema import load_schema, loadable_schemas

        self.report = report
        self.schema = load_schema(schema) if schema else max(loadable_schemas(), key=lambda s: s.valid_from)
        self.parts = EventParts(self.schema)
        self.max_pending, self.max_pending_bytes = max_pending, max_pending_bytes
        self._events: dict[tuple[int, int], list[bytes]] = {}  # oldest first
        self._finished: dict[tuple[int, int], set[int]] = {}
        self._bytes = 0
        self.dropped = 0

    def feed(self, packets: list[bytes]) -> None:
        """Take newly completed packets; decode and report every event they complete."""
        from idex.decode.raw import decode_bytes
        from idex.exceptions import PacketWarning

        for packet in packets:
            key = self.parts.key(packet)
            if key is None:
                continue
            self._events.setdefault(key, []).append(packet)
            self._bytes += len(packet)
            closed = self.parts.part_closed(packet)
            if closed is not None:
                self._finished.setdefault(key, set()).add(closed)
            if self._finished.get(key, set()) >= self.parts.needed:
                data = b"".join(self._events.pop(key))
                self._bytes -= len(data)
                self._finished.pop(key)
                with warnings.catch_warnings():  # an incomplete event is reported with its quality flags set
                    warnings.simplefilter("ignore", PacketWarning)
                    self.report(decode_bytes(data, source="live")["events"].to_dataset())
            self._evict()

    def _evict(self) -> None:
        while len(self._events) > self.max_pending or self._bytes > self.max_pending_bytes:
            key = next(iter(self._events))
            self._bytes -= sum(map(len, self._events.pop(key)))
            self._finished.pop(key, None)
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...: a running count, not a flood
                log.warning(
                    "%d incomplete event(s) dropped from live decoding so far (at most %d events or %d MB "
                    "are held); the capture files keep every byte",
                    self.dropped,
                    self.max_pending,
                    self.max_pending_bytes >> 20,
                )


def capture(
    host: str,
    port: int,
    writer: CaptureWriter,
    stop: threading.Event,
    *,
    on_packets: Callable[[list[bytes]], None] | None = None,
    max_backoff: float = 30.0,
    timeout: float = 0.5,
) -> int:
    """Receive from ``host:port`` into ``writer`` until ``stop`` is set; reconnect with backoff.

    Returns
    -------
    int
        Bytes received.
    """
    received, backoff, connections = 0, 0.25, 0
    try:
        while not stop.is_set():
            try:
                with socket.create_connection((host, port), timeout=5) as connection:
                    log.info("connected to %s:%d", host, port)
                    connections += 1
                    if connections > 1:
                        _on_disk(writer.reconnected, writer, received)
                    backoff = 0.25
                    connection.settimeout(timeout)
                    while not stop.is_set():
                        try:
                            chunk = connection.recv(65536)
                        except TimeoutError:
                            continue
                        if not chunk:
                            log.warning("%s:%d closed the connection; reconnecting", host, port)
                            break
                        received += len(chunk)
                        packets = _on_disk(functools.partial(writer.write, chunk), writer, received)
                        if on_packets is not None and packets:
                            on_packets(packets)
            except OSError as error:
                log.warning("cannot reach %s:%d (%s); retrying in %.1f s", host, port, error, backoff)
            if stop.wait(backoff):
                break
            backoff = min(backoff * 2, max_backoff)
    finally:
        _on_disk(writer.close, writer, received, closing=True)
    return received


_DISK_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "the file size limit is reached",
}


def _on_disk(action: Callable[[], T], writer: CaptureWriter, received: int, *, closing: bool = False) -> T:
    """Run a writer ``action``; a failure to write becomes an :class:`~idex.exceptions.ExportError` saying what
    it is (disk full, read-only...), raised after the files are closed (an empty one removed)."""
    try:
        return action()
    except OSError as error:
        if not closing:
            with contextlib.suppress(OSError):
                writer.close()
        name = writer.files[-1] if writer.files else writer.folder
        raise ExportError(
            f"cannot write {name}: {error.strerror or error} "
            f"({_DISK_PROBLEMS.get(error.errno or 0, 'an error of the file system')}); capture stopped "
            f"after {received} bytes received, those before the failure are on disk"
        ) from None
