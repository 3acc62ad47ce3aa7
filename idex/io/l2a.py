"""The mission's L2A science product (``imap_idex_l2a_sci``): written from the event model, and read back into it.

One declarative mapping, ``defs/official_l2a_profile.yaml`` (taken from an L2A product the mission pipeline
wrote), lists every L2A variable with its CDF type and ISTP attributes; the writer and the reader both use it.
The values are :func:`idex.science.l2a.l2a_values`: idex's fits, charges, velocities and masses under the L2A
names, plus idex's ``<ch>_fit_status`` and ``<ch>_fit_significance`` (the profile's ``idex_variables``).
The TOF mass-spectrum block of the mission's L2A, which its pipeline fills with NaN, is not written.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import ProductError
from idex.fit.models import MODELS
from idex.io.preflight import read_checked
from idex.resources import data_dir, read_yaml
from idex.science.l2a import L2A_CHANNELS, PARAMETER_LABELS, l2a_values

__all__ = ["is_l2a", "l2a_name", "l2a_product", "profile", "read_l2a", "require_waveforms"]

_DTYPES = {"CDF_INT8": np.int64, "CDF_INT1": np.int8, "CDF_UINT1": np.uint8, "CDF_DOUBLE": np.float64}
_AXES = {"target_fit_parameter_index": "fit_parameter", "time_low_sample_rate_index": "sample_low"}
"""The event model's dimension for each L2A axis (the low-rate sample axis of every schema is ``sample_low``)."""


@lru_cache(maxsize=1)
def profile() -> dict[str, Any]:
    """The parsed ``defs/official_l2a_profile.yaml``."""
    return read_yaml(data_dir("defs") / "official_l2a_profile.yaml")


def l2a_name(ds: xr.Dataset, version: int = 1) -> str:
    """Mission file name ``<Logical_source>_YYYYMMDD_vNNN.cdf`` (the profile's ``imap_idex_l2a_sci-10days``; date of
    the first event)."""
    first = ds["epoch"].values.min() if ds.sizes.get("event", 0) else np.datetime64("1970-01-01")
    source = profile()["global_attributes"]["Logical_source"][0]
    return f"{source}_{np.datetime_as_string(first, unit='D').replace('-', '')}_v{version:03d}.cdf"


def _extras() -> dict[str, dict[str, Any]]:
    """The profile's idex variables: per channel (names and labels filled in), then per event."""
    out = {}
    for channel in L2A_CHANNELS:
        label = channel.replace("_", " ").title()
        for pattern, entry in profile()["idex_variables"].items():
            attrs = {k: v.format(label=label) if isinstance(v, str) else v for k, v in entry["attrs"].items()}
            out[pattern.format(channel=channel)] = {"cdf_type": entry["cdf_type"], "attrs": attrs}
    return {**out, **profile()["idex_event_variables"]}


def l2a_product(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` as the L2A product: L2A names, dimensions, CDF types and ISTP attributes, ready for ``xarray_to_cdf``.

    The L2A values are computed (:func:`idex.science.l2a.l2a_values`, fitting first if needed) unless ``ds``
    already carries them.
    """
    if not all(f"{c}_fit_parameters" in ds for c in L2A_CHANNELS if c in ds):
        ds = l2a_values(ds)
    n = ds.sizes["event"]
    variables: dict[str, Any] = {}
    for name, entry in {**profile()["variables"], **_extras()}.items():
        attrs = dict(entry["attrs"])
        dims = ["epoch"] + [attrs[f"DEPEND_{axis}"] for axis in (1, 2) if f"DEPEND_{axis}" in attrs]
        if name == "epoch":
            values: Any = ds["epoch"].values
        elif name == "target_fit_parameter_index":
            values, dims = np.arange(len(PARAMETER_LABELS)), [name]
        elif name == "target_fit_parameter_labels":
            values, dims = np.array(PARAMETER_LABELS), ["target_fit_parameter_index"]
        elif name == "time_low_sample_rate_index":
            values, dims = np.arange(ds.sizes[ds[L2A_CHANNELS[0]].dims[-1]]), [name]
        elif name == "time_low_sample_rate_label":
            values, dims = np.arange(ds.sizes[ds[L2A_CHANNELS[0]].dims[-1]]).astype(str), ["time_low_sample_rate_index"]
        elif name in ds:
            values = ds[name].values
        else:  # a flag or channel the model does not have: the fill value, said so
            values = np.full((n, *ds[L2A_CHANNELS[0]].shape[1:]) if "fit_results" in name else n, attrs["FILLVAL"])
            attrs["VAR_NOTES"] = f"{attrs.get('VAR_NOTES', '')} Not in the source data: fill value.".strip()
        if entry["cdf_type"] in _DTYPES:
            values = np.asarray(values).astype(_DTYPES[entry["cdf_type"]])
        variables[name] = (dims, values, attrs)
    out = xr.Dataset(variables)
    out.attrs = dict(profile()["global_attributes"])
    return out


def is_l2a(names: set[str]) -> bool:
    """True when a CDF's variable names are those of an L2A science product."""
    return all(f"{c}_fit_parameters" in names and f"{c}_impact_charge" in names for c in L2A_CHANNELS)


def require_waveforms(ds: xr.Dataset, path: PathLike) -> xr.Dataset:
    """``ds``, unless it was read from an L2A product (per-event values, no waveforms): then a
    :class:`~idex.exceptions.ProductError` naming ``path`` and what can read it instead."""
    if str(ds.attrs.get("official_logical_source", "")).startswith("imap_idex_l2a"):
        raise ProductError(
            f"{Path(path).name}: an L2A product holds per-event values, not waveforms; fitting, "
            "plotting and the SNR need a capture or an L1a/L1b/idex event file (idex table reads it)"
        )
    return ds


def read_l2a(path: PathLike) -> xr.Dataset:
    """Read an L2A science CDF (the mission's, or one idex wrote) into the event model.

    Returns
    -------
    xarray.Dataset
        Dimension ``event`` (coordinate: row in the product, ``epoch`` the impact time); every per-event
        L2A variable under its L2A name (fill values as NaN), the fit parameters also as
        ``<ch>_fit_<parameter>`` (idex's names), ``<ch>_fit_results`` on ``sample_low``, the ten event flags,
        and idex's fit status and significance when the file has them.

    Raises
    ------
    ProductError
        Naming the file, when it is not a readable L2A product.
    """
    return read_checked(path, _read, "IDEX L2A CDF")


def _read(path: PathLike) -> xr.Dataset:
    import cdflib

    cdf = cdflib.CDF(str(path))
    names = set(cdf.cdf_info().zVariables)
    if not is_l2a(names):
        raise ProductError(f"{path}: not an IDEX L2A product (no per-channel fit parameters and impact charges)")
    epoch = np.array(cdflib.cdfepoch.to_datetime(cdf.varget("epoch")), dtype="datetime64[ns]")
    data: dict[str, Any] = {}
    for name in [*profile()["variables"], *_extras()]:
        if name not in names or name == "epoch" or cdf.varattsget(name).get("DEPEND_0") != "epoch":
            continue
        attrs = cdf.varattsget(name)
        values = np.asarray(cdf.varget(name))
        values = values.reshape(epoch.size, *values.shape[1:]) if values.ndim else values.reshape(epoch.size)
        if values.dtype.kind == "f":
            values = np.where(values == attrs.get("FILLVAL", np.nan), np.nan, values)
        depend = str(attrs.get("DEPEND_1", ""))
        dims = ["event"] + ([_AXES[depend]] if values.ndim > 1 else [])
        data[name] = (
            dims,
            values,
            {
                "long_name": str(attrs.get("CATDESC", name)),
                "units": str(attrs.get("UNITS", "")).strip(),
                "official_name": name,
            },
        )
    for channel in L2A_CHANNELS:
        table = data[f"{channel}_fit_parameters"][1]
        for i, parameter in enumerate(MODELS["impact"].parameters):
            data[f"{channel}_fit_{parameter}"] = ("event", table[:, i], {"long_name": f"{channel} fit: {parameter}"})
    coords = {
        "event": ("event", np.arange(1, epoch.size + 1), {"long_name": "Row in the product"}),
        "epoch": ("event", epoch, {"long_name": "Impact time (UTC)", "standard_name": "time"}),
        "fit_parameter": ("fit_parameter", list(PARAMETER_LABELS)),
    }
    source = str(cdf.globalattsget().get("Logical_source", [""])[0])
    return xr.Dataset(
        data,
        coords=coords,
        attrs={"official_logical_source": source, "source": Path(path).name, "title": "IDEX dust-impact events (L2A)"},
    )
