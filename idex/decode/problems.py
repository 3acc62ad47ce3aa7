"""Collect decoding problems: warn (default) or raise (``strict=True``), and keep a record of each."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from idex.exceptions import PacketDecodeError, PacketWarning

__all__ = ["Problem", "Reporter"]


@dataclass(frozen=True)
class Problem:
    """One thing that went wrong, located by byte offset and/or event."""

    message: str
    offset: int = -1
    event: int = -1


@dataclass
class Reporter:
    """Route problems to warnings or exceptions.

    Parameters
    ----------
    source : str
        Name of the capture, prefixed to every message.
    strict : bool
        Raise :class:`~idex.exceptions.PacketDecodeError` on the first problem instead of warning.
    """

    source: str
    strict: bool = False
    problems: list[Problem] = field(default_factory=list)

    def __call__(self, message: str, *, offset: int = -1, event: int = -1) -> None:
        """Report one problem."""
        where = []
        if offset >= 0:
            where.append(f"byte offset {offset}")
        if event >= 0:
            where.append(f"event {event}")
        text = f"{self.source}: {', '.join(where) + ': ' if where else ''}{message}"
        if self.strict:
            raise PacketDecodeError(text, offset=offset if offset >= 0 else None)
        self.problems.append(Problem(message, offset, event))
        warnings.warn(text, PacketWarning, stacklevel=4)

    def dataset(self) -> xr.Dataset:
        """The problems reported so far as the ``/problems`` node: byte offset, event number and message."""
        return xr.Dataset(
            {
                "offset": (
                    "problem",
                    np.array([p.offset for p in self.problems], np.int64),
                    {"long_name": "Byte offset in the capture (-1: not tied to one packet)"},
                ),
                "event_number": (
                    "problem",
                    np.array([p.event for p in self.problems], np.int64),
                    {"long_name": "Event number (-1: not tied to one event)"},
                ),
                "message": ("problem", np.array([p.message for p in self.problems], dtype=object)),
            }
        )
