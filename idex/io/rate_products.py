"""Rates products: messages from any source, the rates of a collection, and the official L2B/L2C CDF profiles.

``rates(events, messages=...)`` ties the pieces together: the event-message source (a capture, an official L1a or
L1b message CDF, or a Dataset) gives the acquisition intervals (:mod:`idex.science.exposure`), retransmitted events
are counted once (:func:`idex.io.products.unique_events`), and :func:`idex.science.rates.tally` counts. The result
is written as ISTP CDFs in the mission's L2B (``imap_idex_l2b_sci-10days``) and L2C
(``imap_idex_l2c_rectangular-map-10days``) profiles, whose variable lists are in ``defs/l2_products.yaml``, and read
back by :func:`read_rates` (and ``idex.open``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.atomic import atomic_path
from idex.exceptions import IdexWarning, InputError, ProductError
from idex.io.preflight import check_structure
from idex.io.products import unique_events

__all__ = ["product_file_name", "read_messages", "read_rates", "rates", "write_rates"]


def read_messages(source: PathLike | xr.Dataset | Sequence[PathLike | xr.Dataset]) -> xr.Dataset:
    """Event messages (``epoch`` + text or ``science_on``) from a Dataset, capture(s) or official msg CDF(s)."""
    if isinstance(source, xr.Dataset):
        return source
    if not isinstance(source, (str, os.PathLike)):
        parts = [read_messages(s) for s in source]  # type: ignore[arg-type]
        return xr.concat(
            [p[[v for v in ("message_text", "messages", "science_on") if v in p]] for p in parts], dim="message"
        )
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such message file: {path}")
    with path.open("rb") as stream:
        magic = stream.read(4)
    if magic in (bytes.fromhex("cdf30001"), bytes.fromhex("cdf26002")):
        import cdflib

        check_structure(path)  # declared sizes against what the file stores, before anything is loaded
        cdf = cdflib.CDF(str(path))
        names = set(cdf.cdf_info().zVariables)
        wanted = [n for n in ("messages", "science_on") if n in names]
        if "epoch" not in names or not wanted:
            raise ProductError(f"{path}: not an IDEX event-message CDF (no epoch with messages or science_on)")
        epoch = np.array(cdflib.cdfepoch.to_datetime(cdf.varget("epoch")), dtype="datetime64[ns]")
        return xr.Dataset(
            {n: ("message", np.asarray(cdf.varget(n))) for n in wanted},
            coords={"epoch": ("message", epoch)},
            attrs={"source": path.name},
        )
    from idex.decode.raw import open_raw

    tree = open_raw(path)
    if "event_messages" not in tree.children:
        raise ProductError(f"{path}: the capture holds no event messages (APID 1418)")
    out = tree["event_messages"].to_dataset()
    out.attrs["source"] = path.name
    return out


def rates(
    events: xr.Dataset,
    messages: PathLike | xr.Dataset | Sequence[PathLike | xr.Dataset],
    *,
    windows: str | Any = "official",
    spin_tables: PathLike | Sequence[PathLike] | None = None,
    **options: Any,
) -> xr.Dataset:
    """Counts, rates and maps of ``events`` per window; see :func:`idex.science.rates.tally` for ``options``.

    Parameters
    ----------
    events : xarray.Dataset
        Any event collection (``idex.open_products`` of captures, idex files or official L2A files) with pointing.
    messages : path, Dataset or sequence
        Where the acquisition state comes from (captures, official L1a/L1b message CDFs, or Datasets).
    windows : {"official"} or str or array-like
        The mission's 10-day schedule, a pandas frequency (``"10d"``, ``"1D"``) or explicit edges.
    spin_tables : path or sequence of paths, optional
        SDC spin tables, for the acquisition time per spin-phase quadrant.

    Returns
    -------
    xarray.Dataset
        L2B and L2C variables (official names) plus idex's exposure, intervals and counts of what was left out.
    """
    from idex.science.exposure import exposure, spec, transitions, window_edges
    from idex.science.pointing import facts
    from idex.science.rates import tally
    from idex.science.spin_table import read_spin_tables

    facts_l2 = spec()
    needed = [
        "dead_time",
        "dust_hit_flag",
        "spin_phase",
        "longitude",
        "latitude",
        "solar_longitude",
        facts_l2["charge_variable"],
        facts_l2["mass_variable"],
    ]
    attrs = dict(events.attrs)
    events = events[[n for n in needed if n in events]].compute()  # lazy collections: only these are read
    events.attrs = attrs
    epoch = np.asarray(events["epoch"].values, dtype="datetime64[ns]")
    first = unique_events(epoch)
    duplicate = np.ones(epoch.size, dtype=bool)
    duplicate[first] = False
    unique = events.isel(event=first) if "event" in events.dims else events
    message_ds = read_messages(messages)
    times, states = transitions(message_ds)
    if times.size == 0:
        reason = (
            f"{message_ds.attrs.get('source', 'the messages')}: no science-acquisition message at all (no "
            "ACQSETUP ==> ACQ or ACQ ==> CHILL): every rate is NaN, rate_calculation_quality_flags 0"
        )
        warnings.warn(reason, IdexWarning, stacklevel=2)
    starts, ends = window_edges(windows, epoch if epoch.size else times)
    table = None
    if spin_tables is not None:
        table = read_spin_tables([spin_tables] if isinstance(spin_tables, (str, os.PathLike)) else spin_tables)
    exposed = exposure(
        message_ds, starts, ends, spin_table=table, spin_offset_deg=float(facts()["spin_phase_offset_deg"])
    )
    out = tally(unique, exposed, duplicate_times=epoch[duplicate], **options)
    out["imap_longitude"] = (
        "epoch",
        _orbit_longitude(unique, out["epoch"].values, ends),
        {
            "long_name": "IMAP heliocentric ecliptic longitude (circular mean of the window's events' solar_longitude)",
            "units": "Degrees",
        },
    )
    out["on_off_times"] = ("on_off_times", times, {"long_name": "Science acquisition on/off event times"})
    out["on_off_events"] = (
        "on_off_times",
        states.astype(np.uint8),
        {"long_name": "Science acquisition on (1) / off (0) events"},
    )
    if times.size == 0:
        out.attrs["rates_missing_reason"] = reason
    out.attrs.update(
        idex_product="rates",
        source_messages=str(message_ds.attrs.get("source", "Dataset")),
        duplicates_dropped_upstream=int(events.attrs.get("duplicates_dropped", 0)),
        windows=windows if isinstance(windows, str) else "explicit edges",
    )
    return out


def _orbit_longitude(events: xr.Dataset, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Circular mean of ``solar_longitude`` (deg) of the events in each window, NaN where none has one."""
    if "solar_longitude" not in events:
        return np.full(starts.size, np.nan)
    angle = np.radians(np.asarray(events["solar_longitude"].values, dtype=float))
    epoch = np.asarray(events["epoch"].values, dtype="datetime64[ns]")
    window = np.searchsorted(ends, epoch, side="right")
    keep = np.isfinite(angle) & (window < starts.size)
    keep[keep] &= epoch[keep] >= starts[window[keep]]
    sin = np.bincount(window[keep], np.sin(angle[keep]), minlength=starts.size)[: starts.size]
    cos = np.bincount(window[keep], np.cos(angle[keep]), minlength=starts.size)[: starts.size]
    used = np.bincount(window[keep], minlength=starts.size)[: starts.size]
    return np.where(used > 0, np.degrees(np.arctan2(sin, cos)) % 360.0, np.nan)


def write_rates(ds: xr.Dataset, path: PathLike, *, profile: str = "l2b", overwrite: bool = False) -> Path:
    """Write ``ds`` (from :func:`rates`) as an ISTP CDF in the official ``l2b`` or ``l2c`` profile, or as netCDF
    (``.nc``, every variable)."""
    from idex.science.exposure import spec

    path = Path(path)
    if path.suffix in (".nc", ".h5"):
        with atomic_path(path, overwrite=overwrite) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf" if path.suffix == ".h5" else None)
        return path
    facts = spec()
    if profile not in facts["profiles"]:
        raise InputError(f"profile {profile!r}: one of {sorted(facts['profiles'])}")
    names = [n for n in facts[f"{profile}_variables"] if n in ds]
    with atomic_path(path, overwrite=overwrite) as tmp:
        _write_cdf(ds[names], Path(tmp), facts["profiles"][profile])
    return path


def product_file_name(profile: str, first_day: str, version: int = 1) -> str:
    """The mission's file name of a rate product: ``<Logical_source>_<first_day>_v<NNN>.cdf``.

    Parameters
    ----------
    profile : str
        ``l2b`` or ``l2c`` (``defs/l2_products.yaml`` gives each its logical source).
    first_day : str
        ``YYYYMMDD`` of the first window.
    version : int
        Product version.

    Examples
    --------
    >>> product_file_name("l2b", "20250609")
    'imap_idex_l2b_sci-10days_20250609_v001.cdf'
    """
    from idex.science.exposure import spec

    return f"{spec()['profiles'][profile]['Logical_source']}_{first_day}_v{version:03d}.cdf"


_CDF_TYPES = {"float64": 45, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 11, "uint16": 12, "uint32": 14}
"""CDF data types of NumPy dtypes (CDF_DOUBLE, CDF_INT8/4/2/1, CDF_UINT1/2/4); times are CDF_TIME_TT2000 (33),
text CDF_CHAR (51)."""


def _write_cdf(ds: xr.Dataset, path: Path, globals_: dict[str, str]) -> None:
    from cdflib.cdfwrite import CDF

    from idex.science.exposure import spec
    from idex.science.pointing import utc_to_tt2000

    cdf = CDF(str(path), cdf_spec={"Majority": "row_major"}, delete=True)
    attrs = {
        "Project": "STP>Solar-Terrestrial Physics",
        "Source_name": "IMAP>Interstellar Mapping and Acceleration Probe",
        "Discipline": "Space Physics>Heliospheric Physics",
        "Mission_group": "IMAP",
        "PI_name": " ",
        "PI_affiliation": " ",
        "Instrument_type": "Particles (space)",
        "Descriptor": "IDEX>Interstellar Dust Experiment",
        "Logical_file_id": path.stem,
        "Generated_by": "idex",
        **globals_,
        **{k: str(v) for k, v in ds.attrs.items()},
    }
    cdf.write_globalattrs({k: {0: v} for k, v in attrs.items()})
    facts = spec()
    variables = {str(c): ds[c] for c in ds.coords} | {str(v): ds[v] for v in ds.data_vars}
    for name, variable in variables.items():
        values = variable.values
        record = variable.dims[:1] in (("epoch",), ("on_off_times",))
        if values.dtype.kind == "M":
            data, kind = utc_to_tt2000(values.astype("datetime64[ns]")), 33
        elif values.dtype.kind in "UO":
            data, kind = values.astype(str), 51
        else:
            data = values.astype(np.float64 if values.dtype.kind == "f" else values.dtype)
            if str(data.dtype) not in _CDF_TYPES:
                raise ProductError(f"{path}: {name} has dtype {data.dtype}, which has no CDF type here")
            kind = _CDF_TYPES[str(data.dtype)]
        dims = [str(d) for d in (variable.dims[1:] if record else variable.dims)]
        spec_ = {
            "Variable": name,
            "Data_Type": kind,
            "Num_Elements": int(max(1, max((len(s) for s in data.ravel()), default=1))) if kind == 51 else 1,
            "Rec_Vary": record,
            "Dim_Sizes": [variable.sizes[d] for d in dims],
        }
        cdf.write_var(spec_, var_attrs=_istp(name, variable, record, dims, data, facts), var_data=data)
    cdf.close()


def _istp(
    name: str, variable: xr.DataArray, record: bool, dims: list[str], data: np.ndarray, facts: dict[str, Any]
) -> dict[str, Any]:
    """ISTP attributes as the official L2B/L2C files have them (data, support_data, label metadata)."""
    long_name = str(variable.attrs.get("long_name", name))
    labels = facts["labels"]
    attrs: dict[str, Any] = {"CATDESC": long_name, "FIELDNAM": long_name[:30], "LABLAXIS": name[:30]}
    if name in labels.values():  # a label variable: metadata pointing at its dimension
        return {**attrs, "VAR_TYPE": "metadata", "DEPEND_1": dims[0], "FORMAT": f"A{data.dtype.itemsize // 4}"}
    time = data.dtype == np.int64 and variable.dtype.kind == "M"
    support = not record or time or name in facts["support_data"]
    attrs.update(
        VAR_TYPE="support_data" if support else "data",
        UNITS="ns" if time else str(variable.attrs.get("units", " ")) or " ",
    )
    if record and name not in variable.dims:
        attrs["DEPEND_0"] = variable.dims[0]
        attrs["DISPLAY_TYPE"] = "time_series" if not dims else "spectrogram"
        for axis, dim in enumerate(dims, start=1):
            attrs[f"DEPEND_{axis}"] = dim
            if dim in labels:
                attrs[f"LABL_PTR_{axis}"] = labels[dim]
    elif not record and dims[0] in facts["labelled_coordinates"]:  # a bin coordinate with its labels
        attrs["LABL_PTR_1"] = labels[dims[0]]
    elif not record and dims[0] != name:
        attrs["DEPEND_1"] = dims[0]
    if data.dtype.kind == "f":
        attrs.update(FILLVAL=np.float64(-1e31), FORMAT="E12.4")
    elif data.dtype.kind in "iu":
        attrs.update(
            FILLVAL=np.int64(-9223372036854775808)
            if time
            else np.iinfo(data.dtype).min
            if data.dtype.kind == "i"
            else np.iinfo(data.dtype).max,
            FORMAT="I20",
        )
        attrs["FILLVAL"] = np.array(attrs["FILLVAL"], dtype=data.dtype)[()]
    for key in ("method", "healpix_nside", "healpix_order", "frame"):
        if key in variable.attrs:
            attrs[key] = str(variable.attrs[key])
    return attrs


def read_rates(path: PathLike) -> xr.Dataset:
    """Read an L2B/L2C CDF (official or written by idex) or an idex rates netCDF back into the rates Dataset."""
    path = Path(path)
    check_structure(path)  # declared sizes against what the file stores, before anything is loaded
    if path.suffix in (".nc", ".h5"):
        return xr.open_dataset(path).load()
    import cdflib

    cdf = cdflib.CDF(str(path))
    names = cdf.cdf_info().zVariables
    out: dict[str, Any] = {}
    for name in names:
        attrs = cdf.varattsget(name)
        info = cdf.varinq(name)
        values = np.asarray(cdf.varget(name))
        note = {}
        if info.Data_Type == 33:
            values = np.array(cdflib.cdfepoch.to_datetime(values), dtype="datetime64[ns]")
        elif values.dtype.kind in "fiu" and "FILLVAL" in attrs and np.any(values == attrs["FILLVAL"]):
            # fill values (e.g. the pipeline's withheld by-charge / by-mass arrays) become NaN, and say so
            note = {"fill_values": int(np.count_nonzero(values == attrs["FILLVAL"]))}
            values = np.where(values == attrs["FILLVAL"], np.nan, values.astype(np.float64))
        if info.Rec_Vary:
            dims = [attrs.get(f"DEPEND_{i}", name if i == 0 else f"{name}_dim_{i}") for i in range(values.ndim)]
        else:
            dims = [attrs.get(f"DEPEND_{i + 1}", name if i == 0 else f"{name}_dim_{i}") for i in range(values.ndim)]
        units = str(attrs.get("UNITS", "") or "").strip()
        out[name] = (dims, values, {"long_name": attrs.get("CATDESC", name), "units": units, **note})
    ds = xr.Dataset(out)
    ds.attrs.update({k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in cdf.globalattsget().items()})
    return ds.set_coords([n for n in ds.data_vars if n in ds.dims])
