"""ISTP-compliant CDF output through ``cdflib.xarray_to_cdf`` (strict: any ISTP warning is an error).

The event model is mapped onto CDF conventions in one place, :func:`cdf_dataset`: the record
dimension becomes ``epoch`` (CDF_TIME_TT2000), the event number a ``support_data`` variable,
booleans ``uint8``; every variable gets its ISTP attributes (VAR_TYPE, CATDESC, FIELDNAM, FORMAT,
UNITS, VALIDMIN/MAX, FILLVAL, DISPLAY_TYPE, LABLAXIS, DEPEND_n) derived from the schema's names,
units and bit widths, and the global attributes come from the schema's ``cdf`` section.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.calibration import schema_of
from idex.exceptions import ExportError
from idex.io.atomic import atomic_path
from idex.io.official import official_dataset

__all__ = ["cdf_dataset", "default_cdf_name", "to_cdf"]

# ISTP fill values by numpy dtype (the CDF type xarray_to_cdf chooses for each).
_FILLVAL: dict[str, Any] = {
    "uint8": np.uint8(255), "uint16": np.uint16(65535), "uint32": np.uint32(4294967295),
    "int8": np.int8(-128), "int16": np.int16(-32768), "int32": np.int32(-2147483648),
    "int64": np.int64(-9223372036854775808), "float32": np.float32(-1e31), "float64": np.float64(-1e31),
}
_FORMAT = {"uint8": "I3", "uint16": "I5", "uint32": "I10", "int8": "I4", "int16": "I6", "int32": "I11",
           "int64": "I20", "float32": "E13.6", "float64": "E22.15"}
_TT2000_RANGE = (np.datetime64("1990-01-01T00:00:00", "ns"), np.datetime64("2100-01-01T00:00:00", "ns"))


def default_cdf_name(ds: xr.Dataset, version: int = 1) -> str:
    """Mission file name ``imap_idex_l1a_sci_YYYYMMDD_vNNN.cdf`` (date of the first event)."""
    first = ds["epoch"].values.min() if ds.sizes.get("event", 0) else np.datetime64("1970-01-01")
    return f"imap_idex_l1a_sci_{np.datetime_as_string(first, unit='D').replace('-', '')}_v{version:03d}.cdf"


def cdf_dataset(ds: xr.Dataset) -> xr.Dataset:
    """The event model rearranged and annotated for ISTP CDF (see the module docstring).

    Raises
    ------
    ExportError
        Naming the variable, if one has a type CDF cannot hold or lacks a description.
    """
    schema = schema_of(ds)
    for name, variable in ds.variables.items():
        if variable.dtype.kind not in "biufMU":
            raise ExportError(f"variable {name!r} has dtype {variable.dtype}, which CDF cannot store")
        if name not in ds.dims and not variable.attrs.get("long_name"):
            raise ExportError(f"variable {name!r} has no 'long_name' attribute (needed for CATDESC and FIELDNAM)")
    out = ds.reset_coords([c for c in ds.coords if c not in ds.dims and c != "epoch"])
    out = out.swap_dims(event="epoch").reset_coords("event") if "event" in out.dims else out
    for name in list(out.data_vars):
        if out[name].dtype == bool:
            out[name] = out[name].astype(np.uint8)
    time_of_dim = {channel.dim: channel.time for channel in schema.channels.values()}
    for name, variable in out.variables.items():
        variable.attrs = _istp_attrs(name, variable, time_of_dim)
    out.attrs = {**{k: v for k, v in ds.attrs.items() if isinstance(v, str)}, **schema.cdf_global_attributes}
    return out


def _istp_attrs(name: str, variable: xr.Variable, time_of_dim: dict[str, str]) -> dict[str, Any]:
    attrs = {k: v for k, v in variable.attrs.items() if k not in ("units",)}
    long_name = str(variable.attrs.get("long_name", name))
    attrs.update(CATDESC=long_name, FIELDNAM=long_name[:30], LABLAXIS=name[:30],
                 UNITS=str(variable.attrs.get("units", "")) or " ")
    if variable.dtype.kind == "M":  # times: CDF_TIME_TT2000
        attrs.update(VAR_TYPE="support_data", FILLVAL=np.int64(-9223372036854775808), FORMAT=" ", UNITS="ns",
                     VALIDMIN=_TT2000_RANGE[0], VALIDMAX=_TT2000_RANGE[1], TIME_BASE="J2000",
                     TIME_SCALE="Terrestrial Time")
        if name == "epoch":
            return attrs
        attrs.update(DEPEND_0="epoch", DISPLAY_TYPE="no_plot")
        return attrs
    dtype = variable.dtype
    record = "epoch" in variable.dims
    attrs["VAR_TYPE"] = "data" if record and ("mnemonic" not in attrs or variable.ndim > 1) else "support_data"
    if record:
        attrs["DEPEND_0"] = "epoch"
    for axis, dim in enumerate(d for d in variable.dims if d != "epoch"):
        attrs[f"DEPEND_{axis + 1}"] = time_of_dim.get(dim, dim)
    attrs["DISPLAY_TYPE"] = ("spectrogram" if variable.ndim > 1 else "time_series") if record else "no_plot"
    if dtype.kind == "U":  # text: ISTP metadata, not plottable data
        attrs.update(VAR_TYPE="metadata", FORMAT=f"A{max(1, dtype.itemsize // 4)}", FILLVAL=" ")
        return attrs
    key = dtype.name
    attrs["FORMAT"] = _FORMAT[key]
    attrs["FILLVAL"] = _FILLVAL[key]
    if dtype.kind in "iu":
        bits = int(variable.attrs.get("bits", variable.attrs.get("sample_bits", np.iinfo(dtype).bits)))
        info = np.iinfo(dtype)
        attrs["VALIDMIN"] = dtype.type(max(info.min, 0 if dtype.kind == "u" else info.min))
        attrs["VALIDMAX"] = dtype.type(min(info.max - (1 if dtype.kind == "u" else 0), 2 ** bits - 1))
    else:
        attrs["VALIDMIN"], attrs["VALIDMAX"] = dtype.type(-1e30), dtype.type(1e30)
    return attrs


def to_cdf(ds: xr.Dataset, path: PathLike, *, overwrite: bool = False, version: int = 1,
           profile: str = "idex") -> Path:
    """Write ``ds`` as an ISTP CDF file; cdflib's strict mode must accept it without a single warning.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model (fit outputs included, if merged).
    path : str or path
        Output file, or an existing folder to write ``imap_idex_l1a_sci_YYYYMMDD_vNNN.cdf`` into.
    overwrite : bool
        Replace an existing file (cdflib alone would silently refuse).
    version : int
        File version used in the default name.
    profile : {"idex", "official"}
        ``"idex"`` writes the event model with its own names; ``"official"`` writes the mission's L1a
        variable names and attributes (:mod:`idex.io.official`) so existing IMAP tools open the file.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from cdflib.xarray import xarray_to_cdf

    target = Path(path)
    if target.is_dir():
        target = target / default_cdf_name(ds, version)
    if profile not in ("idex", "official"):
        raise ExportError(f"unknown CDF profile {profile!r}; choose 'idex' or 'official'")
    prepared = cdf_dataset(ds) if profile == "idex" else official_dataset(ds)
    prepared.attrs.update(Logical_file_id=target.stem, Generation_date=np.datetime_as_string(
        np.datetime64("now"), unit="D").replace("-", ""))
    with atomic_path(target, overwrite=overwrite) as temporary, warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            xarray_to_cdf(prepared, str(temporary), istp=True, terminate_on_warning=True,
                          auto_fix_depends=False, record_dimensions=["epoch"], compression=6)
        except Exception as error:  # cdflib raises ISTPError or plain exceptions: name the file either way
            raise ExportError(f"cannot write {target.name}: {error}") from error
    return target
