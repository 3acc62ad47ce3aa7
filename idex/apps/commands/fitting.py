"""Fitting from the command line with a progress bar: a campaign's file is fitted in blocks of events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from idex.apps.commands.grammar import progress

if TYPE_CHECKING:  # xarray is imported by the command's body: `idex --help` stays light
    import xarray as xr

__all__ = ["BLOCK", "fitted"]

BLOCK = 64
"""Events fitted per step of the progress bar (a few seconds of work)."""


def fitted(
    ds: xr.Dataset,
    channels: Sequence[str] | None = None,
    *,
    curves: bool = False,
    schema: str | None = None,
    block: int = BLOCK,
) -> xr.Dataset:
    """``ds.idex.fit(channels, merge=True, ...)``, in blocks of ``block`` events with a progress bar on a terminal.

    The result is the one a single call gives (events are fitted independently of each other). Only the fit outputs
    of the blocks are joined: the waveforms stay as ``ds`` holds them (rows of sparse events packed, not built).
    """
    import xarray as xr

    from idex.fit.events import with_fits

    n = ds.sizes.get("event", 0)
    if n <= block:
        return ds.idex.fit(channels, merge=True, curves=curves, schema=schema)
    parts = []
    with progress(length=n, label="fitting events") as bar:
        for start in range(0, n, block):
            part = ds.isel(event=slice(start, start + block))
            parts.append(part.idex.fit(channels, curves=curves, schema=schema))
            bar.update(part.sizes["event"])
    fits = xr.concat(
        parts,
        dim="event",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="exact",
        combine_attrs="override",
    )
    return with_fits(ds, fits)
