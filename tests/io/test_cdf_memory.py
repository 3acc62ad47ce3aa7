"""The CDF ceiling (idex.io.cdf_memory): what cdflib would build of variables held lazily, against what is held."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from idex.exceptions import ExportError
from idex.io.cdf_memory import check_cdf_memory

EVENTS, SAMPLES = 3000, 16384  # 98.3 MB of uint16: over the 64 MiB floor


class _BuiltOnDemand(BackendArray):
    """Zeros of ``shape`` made only for the rows asked (as the model's lazily filled waveform rows)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape, self.dtype = shape, np.dtype(np.uint16)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        return np.zeros(self.shape, self.dtype)[key]


def _lazy(rows: int = EVENTS) -> xr.Variable:
    return xr.Variable(("event", "sample"), indexing.LazilyIndexedArray(_BuiltOnDemand((rows, SAMPLES))))


def test_variables_built_on_demand_past_the_ceiling_are_refused_naming_them():
    ds = xr.Dataset({"tof_high": _lazy(), "event_number": ("event", np.arange(EVENTS))})
    with pytest.raises(ExportError) as refused:
        check_cdf_memory(ds, Path("out/x.cdf"))
    message = str(refused.value)
    assert message.startswith("cannot write x.cdf: cdflib would build 98.3 MB of variables held lazily (tof_high")
    assert "3000 events" in message and "ceiling of 67.1 MB" in message and "write x.nc instead" in message
    assert "\n" not in message


def test_under_the_floor_or_4x_what_is_held_is_written():
    check_cdf_memory(xr.Dataset({"tof_high": _lazy(rows=2000)}), Path("x.cdf"))  # 65.5 MB < 64 MiB
    held = np.zeros((EVENTS, SAMPLES // 3), np.uint16)  # 32.8 MB held: the ceiling is 131 MB
    check_cdf_memory(xr.Dataset({"tof_high": _lazy(), "tof_low": (("event", "low"), held)}), Path("x.cdf"))


def test_a_file_opened_lazily_counts_as_held_not_as_built(tmp_path):
    # the CDF of a file is what the file holds (its readers check declared sizes first): never refused for size
    xr.Dataset({"tof_high": (("event", "sample"), np.zeros((EVENTS, SAMPLES), np.uint16))}).to_netcdf(
        tmp_path / "x.nc", encoding={"tof_high": {"zlib": True}}
    )
    with xr.open_dataset(tmp_path / "x.nc") as opened:
        assert not opened["tof_high"].variable._in_memory
        check_cdf_memory(opened, tmp_path / "x.cdf")
