"""xarray backend: ``xr.open_dataset("capture.pkts", engine="idex")`` and ``xr.open_datatree(...)``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import xarray as xr
from xarray.backends import BackendEntrypoint

from idex.decode.raw import open_raw
from idex.opening import CAPTURE_SUFFIXES, kind_of
from idex.opening import open as open_any

__all__ = ["IdexBackendEntrypoint"]


class IdexBackendEntrypoint(BackendEntrypoint):
    """Open raw IDEX telemetry captures with xarray (the event model by default)."""

    description = "Raw IDEX telemetry (CCSDS packets) or official IDEX science CDFs, as the idex event model"
    url = "https://github.com/idex-developers/idex"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "group", "schema", "strict")

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        group: str | None = None,
        schema: Any = None,
        strict: bool = False,
    ) -> xr.Dataset:
        """The event model of any file :func:`~idex.opening.open` reads, or another group of a raw capture's tree."""
        if group is None or group == "events":
            ds = open_any(filename_or_obj, schema=schema, strict=strict)
        else:
            ds = open_raw(filename_or_obj, schema=schema, strict=strict, group=group)
        if drop_variables:
            ds = ds.drop_vars([drop_variables] if isinstance(drop_variables, str) else list(drop_variables))
        return ds

    def open_datatree(self, filename_or_obj: Any, *, schema: Any = None, strict: bool = False, **_: Any) -> xr.DataTree:
        """Decode ``filename_or_obj`` into the whole tree (events, packets, raw APIDs, problems)."""
        return open_raw(filename_or_obj, schema=schema, strict=strict)

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """True for raw-capture suffixes (``.pkts``, ``.bin``, ``.dat``, ``.ccsds``) and for CDF files (by their
        signature, whatever their name: idex's own as well as the mission's; no other xarray engine reads CDF)."""
        try:
            name = os.fspath(filename_or_obj)
        except TypeError:
            return False
        if name.lower().endswith(CAPTURE_SUFFIXES):
            return True
        try:
            return os.path.isfile(name) and kind_of(name) == "cdf"
        except OSError:
            return False
