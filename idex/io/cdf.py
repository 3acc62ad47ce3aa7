"""ISTP-compliant CDF output through ``cdflib.xarray_to_cdf`` (strict: any ISTP warning is an error), and back.

The event model is mapped onto CDF conventions in one place, :func:`cdf_dataset`: the record
dimension becomes ``epoch`` (CDF_TIME_TT2000), the event number a ``support_data`` variable,
booleans ``uint8`` (marked ``idex_dtype``), coordinates data variables (marked ``idex_coordinate``);
every variable gets its ISTP attributes (VAR_TYPE, CATDESC, FIELDNAM, FORMAT, UNITS, VALIDMIN/MAX,
FILLVAL, DISPLAY_TYPE, LABLAXIS, DEPEND_n) derived from the schema's names, units and bit widths, and
the global attributes come from the schema's ``cdf`` section (accelerator shots: ``defs/scope_cdf.yaml``).
:func:`read_cdf` undoes all of it, so what idex writes, idex reads: the same variables, dtypes (text
widths marked ``idex_dtype``), dimensions (marked ``idex_dim`` on the time axes) and attributes.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.atomic import atomic_path
from idex.exceptions import ExportError, IdexWarning
from idex.io.cdf_attributes import plain_attribute as _plain
from idex.io.cdf_memory import check_cdf_memory
from idex.io.official import official_dataset
from idex.io.preflight import check_structure
from idex.model.calibration import schema_of
from idex.model.dataset import stored_form, waveform_channels, with_trigger_clocks
from idex.resources import data_dir, read_yaml

__all__ = ["cdf_dataset", "default_cdf_name", "read_cdf", "to_cdf"]

# ISTP fill values by numpy dtype (the CDF type xarray_to_cdf chooses for each).
_FILLVAL: dict[str, Any] = {
    "uint8": np.uint8(255),
    "uint16": np.uint16(65535),
    "uint32": np.uint32(4294967295),
    "int8": np.int8(-128),
    "int16": np.int16(-32768),
    "int32": np.int32(-2147483648),
    "int64": np.int64(-9223372036854775808),
    "float32": np.float32(-1e31),
    "float64": np.float64(-1e31),
}
_FORMAT = {
    "uint8": "I3",
    "uint16": "I5",
    "uint32": "I10",
    "int8": "I4",
    "int16": "I6",
    "int32": "I11",
    "int64": "I20",
    "float32": "E13.6",
    "float64": "E22.15",
}
_TT2000_RANGE = (np.datetime64("1990-01-01T00:00:00", "ns"), np.datetime64("2100-01-01T00:00:00", "ns"))


DEFAULT_COMPRESSION = 1
"""GZIP level of CDF variables and zlib level of netCDF variables unless asked otherwise: the fast end."""


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
    global_attributes = _global_attributes(ds)
    ds = ds.drop_indexes([name for name in ds.xindexes if name not in ds.dims])  # epoch, when event numbers repeat
    for name, variable in ds.variables.items():
        if variable.dtype.kind not in "biufMU":
            raise ExportError(f"variable {name!r} has dtype {variable.dtype}, which CDF cannot store")
        if name not in ds.dims and not variable.attrs.get("long_name"):
            raise ExportError(f"variable {name!r} has no 'long_name' attribute (needed for CATDESC and FIELDNAM)")
    coordinates = [c for c in ds.coords if c not in ds.dims and c != "epoch"]
    out = ds.reset_coords(coordinates)
    out = out.swap_dims(event="epoch").reset_coords("event") if "event" in out.dims else out
    for name in coordinates:  # remembered, so that read_cdf restores them as coordinates
        out[name].attrs = {**out[name].attrs, "idex_coordinate": "true"}
    for name in list(out.data_vars):
        if out[name].dtype == bool:
            out[name] = out[name].astype(np.uint8)
            out[name].attrs = {**ds[name].attrs, "idex_dtype": "bool"}
        elif out[name].dtype.kind == "U":  # CDF text is as long as the longest value: keep the declared width
            out[name] = _ascii_text(out[name])
            out[name].attrs = {**out[name].attrs, "idex_dtype": ds[name].dtype.str}
    time_of_dim = {str(ds[name].dims[-1]): str(ds[name].attrs["time"]) for name in waveform_channels(ds)}
    for name, variable in out.variables.items():
        variable.attrs = _istp_attrs(str(name), variable, time_of_dim)
    for dim, time in time_of_dim.items():  # remembered, so that read_cdf names the sample dimensions again
        out[time].attrs["idex_dim"] = dim
    own = {k: v for k, v in ds.attrs.items() if _storable_global(v) and k not in global_attributes}
    escaped = sorted(k for k, v in own.items() if isinstance(v, str) and not v.isascii())  # cdflib garbles those
    own.update({k: own[k].encode("unicode_escape").decode("ascii") for k in escaped})
    # The model's own global attributes are named, so that read_cdf gives back exactly those (not the ISTP ones)
    names = {"names": sorted(own), "unicode_escape": escaped}
    out.attrs = {**own, **global_attributes, _OWN_GLOBAL_NAMES: json.dumps(names)}
    return out


_ESCAPED = "idex_text_escaped"
"""Marks a text variable written with its non-ASCII characters as ``\\uXXXX`` escapes."""


def _ascii_text(text: xr.DataArray) -> xr.DataArray:
    """``text`` itself when it is ASCII, else escaped to ASCII (``unicode_escape``) and marked so.

    CDF_CHAR holds bytes, as many per value as the variable's declared width: cdflib writes UTF-8 into a width
    counted in characters (cutting non-ASCII text short) and reads bytes back as Latin-1, so non-ASCII text
    would come back cut and garbled.
    """
    values = text.values
    if not values.size or all(value.isascii() for value in values.ravel().tolist()):
        return text
    escaped = np.array([value.encode("unicode_escape").decode("ascii") for value in values.ravel().tolist()])
    return text.copy(data=escaped.reshape(values.shape)).assign_attrs({_ESCAPED: "unicode_escape"})


def _unescaped(text: xr.Variable) -> xr.Variable:
    """The text that ``_ascii_text`` escaped."""
    values = [str(value).encode("ascii").decode("unicode_escape") for value in text.values.ravel().tolist()]
    return text.copy(data=np.array(values).reshape(text.shape))


def _global_attributes(ds: xr.Dataset) -> Mapping[str, Any]:
    """The ISTP global attributes: the packet schema's ``cdf`` section, or for accelerator shots (read with a
    scope setup, no packet schema) ``defs/scope_cdf.yaml``."""
    if "idex_schema" not in ds.attrs and "idex_scope_setup" in ds.attrs:
        return dict(read_yaml(data_dir("defs") / "scope_cdf.yaml")["global_attributes"])
    return schema_of(ds).cdf_global_attributes


def _istp_attrs(name: str, variable: xr.Variable, time_of_dim: dict[str, str]) -> dict[str, Any]:
    attrs = {k: v for k, v in variable.attrs.items() if k not in ("units",)}
    long_name = str(variable.attrs.get("long_name", name))
    attrs.update(
        CATDESC=long_name,
        FIELDNAM=_field_name(long_name),
        LABLAXIS=name[:30],
        UNITS=str(variable.attrs.get("units", "")) or " ",
    )
    if variable.dtype.kind == "M":  # times: CDF_TIME_TT2000
        attrs.update(
            VAR_TYPE="support_data",
            FILLVAL=np.int64(-9223372036854775808),
            FORMAT=" ",
            UNITS="ns",
            VALIDMIN=_TT2000_RANGE[0],
            VALIDMAX=_TT2000_RANGE[1],
            TIME_BASE="J2000",
            TIME_SCALE="Terrestrial Time",
        )
        if name == "epoch":
            return attrs
        attrs.update(DEPEND_0="epoch", DISPLAY_TYPE="no_plot")
        return attrs
    dtype = variable.dtype
    record = "epoch" in variable.dims
    attrs["VAR_TYPE"] = "data" if record and ("mnemonic" not in attrs or variable.ndim > 1) else "support_data"
    if record:
        attrs["DEPEND_0"] = "epoch"
    for axis, dim in enumerate(str(d) for d in variable.dims if d != "epoch"):
        if time_of_dim.get(dim, dim) != name:  # a time axis does not depend on itself
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
        attrs["VALIDMAX"] = dtype.type(min(info.max - (1 if dtype.kind == "u" else 0), 2**bits - 1))
    else:
        attrs["VALIDMIN"], attrs["VALIDMAX"] = dtype.type(-1e30), dtype.type(1e30)
    return attrs


def _field_name(long_name: str, limit: int = 30) -> str:
    """ISTP FIELDNAM: the long name cut to ``limit`` characters at a word boundary.

    Examples
    --------
    >>> _field_name("Time from the start of the sample_high record")
    'Time from the start of the'
    """
    if len(long_name) <= limit:
        return long_name
    cut = long_name[: limit + 1].rsplit(" ", 1)[0]
    return cut if 0 < len(cut) <= limit else long_name[:limit]


def to_cdf(
    ds: xr.Dataset,
    path: PathLike,
    *,
    overwrite: bool = False,
    version: int = 1,
    profile: str = "idex",
    compression: int = DEFAULT_COMPRESSION,
) -> Path:
    """Write ``ds`` as an ISTP CDF file; cdflib's strict mode must accept it without a single warning.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model (fit outputs included, if merged).
    path : str or path
        Output file (``.cdf``), or a folder (existing, ending in ``/``, or without a suffix; created when
        missing) to write ``imap_idex_l1a_sci_YYYYMMDD_vNNN.cdf`` into.
    overwrite : bool
        Replace an existing file (cdflib alone would silently refuse).
    version : int
        File version used in the default name.
    profile : {"idex", "official", "l2a"}
        ``"idex"`` writes the event model with its own names; ``"official"`` writes the mission's L1a
        variable names and attributes (:mod:`idex.io.official`) so existing IMAP tools open the file;
        ``"l2a"`` writes the mission's L2A science product (:mod:`idex.io.l2a`: fits, impact charges,
        velocities and masses, fitting first if ``ds`` has no fits).
    compression : int
        GZIP level of the variables, 0 (none) to 9; the default (1) is about three times faster than 6 for
        files about 20 % larger (``benchmarks/export.py``).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExportError
        Before anything is built or created, when cdflib (which builds every variable whole) would build
        far more than ``ds`` holds (:mod:`idex.io.cdf_memory`); or naming the file, when cdflib fails.
    """
    from cdflib.xarray import xarray_to_cdf

    from idex.io.l2a import l2a_name, l2a_product

    target = Path(path)
    folder = target.is_dir() or str(path).endswith(("/", os.sep)) or not target.suffix
    if folder:  # the mission's file name inside it
        target = target / (l2a_name(ds, version) if profile == "l2a" else default_cdf_name(ds, version))
    if target.suffix.lower() != ".cdf":
        raise ExportError(f"{target}: a CDF file name ends in .cdf (cdflib would add it)")
    if profile not in ("idex", "official", "l2a"):
        raise ExportError(f"unknown CDF profile {profile!r}; choose 'idex', 'official' or 'l2a'")
    source = stored_form(ds) if profile == "idex" else ds
    if profile != "l2a":  # cdflib builds every variable whole; L2A holds per-event fit results, built by the fits
        check_cdf_memory(source, target)
    if folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    prepared = {"idex": cdf_dataset, "official": official_dataset, "l2a": l2a_product}[profile](source)
    text = [name for name, v in prepared.variables.items() if v.dtype.kind == "U" and v.chunks]
    prepared = prepared.assign({name: prepared[name].compute() for name in text})  # cdflib takes no lazy text
    prepared.attrs.update(
        Logical_file_id=target.stem,
        Generation_date=np.datetime_as_string(np.datetime64("now"), unit="D").replace("-", ""),
    )
    with atomic_path(target, overwrite=overwrite) as temporary, warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            xarray_to_cdf(
                prepared,
                str(temporary),
                istp=True,
                terminate_on_warning=True,
                auto_fix_depends=False,
                record_dimensions=["epoch"],
                compression=compression,
            )
        except Exception as error:  # cdflib raises ISTPError or plain exceptions: name the file either way
            raise ExportError(f"cannot write {target.name}: {error}") from error
    return target


_ISTP_KEYS = frozenset(
    {
        "CATDESC",
        "FIELDNAM",
        "LABLAXIS",
        "UNITS",
        "VAR_TYPE",
        "FILLVAL",
        "FORMAT",
        "VALIDMIN",
        "VALIDMAX",
        "DEPEND_0",
        "DEPEND_1",
        "DEPEND_2",
        "DISPLAY_TYPE",
        "TIME_BASE",
        "TIME_SCALE",
        "standard_name",
        "idex_coordinate",
        "idex_dtype",
        "idex_dim",
        "units",
        "long_name",
        "TIME_ATTRS",
        _ESCAPED,
    }
)


def read_cdf(path: PathLike) -> xr.Dataset:
    """Read a CDF written by :func:`to_cdf` (``profile="idex"``) back into the event model.

    Parameters
    ----------
    path : str or path
        The file.

    Returns
    -------
    xarray.Dataset
        ``event`` as the record dimension again, coordinates, booleans, sample dimensions and the
        variables' own attributes (``long_name``, ``units``, ...) restored; ISTP attributes removed.
    """
    from cdflib.xarray import cdf_to_xarray

    from idex.schema import load_schema, registered_name

    check_structure(path)  # declared sizes against what the file stores, before anything is loaded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cdflib's notes on ISTP details of the file being read
        raw = cdf_to_xarray(str(path), to_datetime=True, fillval_to_nan=False)
    own_standard_names = _standard_names(path)
    sample_dims = {name: str(_plain(v.attrs["idex_dim"])) for name, v in raw.variables.items() if "idex_dim" in v.attrs}
    if not sample_dims:  # written before the sample dimensions were recorded: the schema names them
        schema = load_schema(registered_name(_plain(raw.attrs["idex_schema"]), "idex_schema"))
        sample_dims = {channel.time: channel.dim for channel in schema.channels.values()}
    ds = raw.rename_dims({d: sample_dims[d] for d in raw.dims if d in sample_dims})
    ds = ds.swap_dims(epoch="event").set_coords("epoch") if "epoch" in ds.dims else ds
    for name, variable in list(ds.variables.items()):
        attrs = dict(variable.attrs)
        if attrs.get("idex_dtype") == "bool":
            ds[name] = variable.astype(bool)
        elif str(attrs.get("idex_dtype", "")).startswith(("<U", ">U", "|U")):
            ds[name] = (_unescaped(variable) if _ESCAPED in attrs else variable).astype(str(attrs["idex_dtype"]))
        elif variable.dtype.kind == "f" and "FILLVAL" in attrs:  # NaN was written as the ISTP fill value
            ds[name] = variable.where(variable != _plain(attrs["FILLVAL"]))
        clean = {k: _plain(v) for k, v in attrs.items() if k not in _ISTP_KEYS}
        units = str(attrs.get("UNITS", "")).strip()
        if units and variable.dtype.kind != "M":
            clean["units"] = units
        if "CATDESC" in attrs:
            clean["long_name"] = str(_plain(attrs["CATDESC"]))
        if name in own_standard_names:  # the model's own, not cdflib's copy of FIELDNAM under that name
            clean["standard_name"] = own_standard_names[name]
        ds[name].attrs = clean
    marked = [name for name, v in raw.variables.items() if v.attrs.get("idex_coordinate") == "true"]
    ds = ds.set_coords([name for name in marked if name in ds])
    ds.attrs = _own_global_attributes(raw.attrs, path)
    return with_trigger_clocks(ds)


def _standard_names(path: PathLike) -> dict[str, str]:
    """The ``standard_name`` attributes written in the file (``cdf_to_xarray`` replaces them with FIELDNAM)."""
    import cdflib

    cdf = cdflib.CDF(str(path))
    found = {name: cdf.varattsget(name).get("standard_name") for name in cdf.cdf_info().zVariables}
    return {name: str(_plain(value)) for name, value in found.items() if value is not None}


_OWN_GLOBALS = frozenset({"source", "Conventions", "title", "history", "profile"})
"""Global attributes of the model kept from files written before they were named in :data:`_OWN_GLOBAL_NAMES`."""

_OWN_GLOBAL_NAMES = "idex_global_attributes"
"""Global attribute listing (JSON) the model's own global attributes, written beside the schema's ISTP ones."""


def _own_global_attributes(stored: Mapping[str, Any], path: PathLike) -> dict[str, Any]:
    """The model's global attributes among those of the file: the ones the writer named, text unescaped.

    A file whose list is not what :func:`cdf_dataset` writes gives back only idex's own attributes, with a warning.
    """
    try:
        names = json.loads(str(_plain(stored.get(_OWN_GLOBAL_NAMES, "{}"))))
        named, escaped = set(names.get("names", ())), set(names.get("unicode_escape", ()))
        own = {
            k: _plain(v)
            for k, v in stored.items()
            if (k in named or k in _OWN_GLOBALS or k.startswith("idex")) and k != _OWN_GLOBAL_NAMES
        }
        return {k: str(v).encode("ascii").decode("unicode_escape") if k in escaped else v for k, v in own.items()}
    except (ValueError, AttributeError, TypeError):  # not JSON, not a mapping, or text that is not escaped ASCII
        warnings.warn(
            f"{path}: global attribute {_OWN_GLOBAL_NAMES} is not the list idex writes; "
            "only idex's own global attributes are read",
            IdexWarning,
            stacklevel=3,
        )
        return {k: _plain(v) for k, v in stored.items() if k.startswith("idex") and k != _OWN_GLOBAL_NAMES}


def _storable_global(value: Any) -> bool:
    """Text, a number or a list of numbers: what a CDF global attribute holds and gives back as it was."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, (int, float)) for v in value)
