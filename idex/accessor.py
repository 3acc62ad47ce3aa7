"""The ``ds.idex`` accessor: thin delegates to the typed functions of :mod:`idex`."""

from __future__ import annotations

import xarray as xr

from idex.quality import QualityFlag

__all__ = ["IdexDatasetAccessor"]


@xr.register_dataset_accessor("idex")
class IdexDatasetAccessor:
    """Methods for the IDEX event model, available as ``ds.idex.<method>``."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def time(self, channel: str) -> xr.DataArray:
        """Sample times of ``channel`` relative to each event's trigger (µs), shape ``(event, sample)``.

        Examples
        --------
        >>> import idex
        >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
        >>> ds.idex.time("tof_high").dims
        ('event', 'sample_high')
        """
        attrs = self._ds[channel].attrs
        clock = self._ds[attrs["time"]]
        relative = clock - self._ds[attrs["trigger_time"]]
        relative.attrs = {"long_name": f"Time of {channel} relative to the trigger", "units": "us"}
        return relative.transpose("event", ...)

    def flagged(self, flag: QualityFlag | int) -> xr.DataArray:
        """Boolean per event: True where ``quality_flags`` has any bit of ``flag`` set."""
        return (self._ds["quality_flags"] & int(flag)) != 0
