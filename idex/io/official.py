"""The mission's own L1a variable names and attributes (the ``official`` CDF profile), and back.

One declarative mapping, ``defs/official_l1a_profile.yaml`` (generated from an official L1a product),
lists every official variable with its CDF type, ISTP attributes and where its values live in the
event model (``source``) or how they are built from it (``derived``). The writer here and the
reader of official products both use it, so they cannot drift apart. Variables the profile lists
under ``not_produced`` (the event-classification flags, spare and sync/CRC words) are not written.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import xarray as xr
import yaml

from idex.calibration import schema_of
from idex.resources import data_dir

__all__ = ["official_dataset", "profile"]

_DTYPES = {"CDF_INT8": np.int64, "CDF_UINT1": np.uint8, "CDF_DOUBLE": np.float64, "CDF_CHAR": str}


@lru_cache(maxsize=1)
def profile() -> dict[str, Any]:
    """The parsed ``defs/official_l1a_profile.yaml``."""
    return yaml.safe_load((data_dir("defs") / "official_l1a_profile.yaml").read_text(encoding="utf-8"))


def official_dataset(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` under the official L1a names, types and attributes, ready for ``cdflib.xarray_to_cdf``."""
    schema = schema_of(ds)
    fields = {f.name: f for f in (*schema.subheader, *schema.header_fields) if f.name}
    variables: dict[str, Any] = {}
    for name, entry in profile()["variables"].items():
        attrs = dict(entry["attrs"])
        dims = [attrs[f"DEPEND_{axis}"] for axis in range(3) if f"DEPEND_{axis}" in attrs]
        if "source" in entry:
            values = ds[entry["source"]].values
            field = fields.get(entry["source"])
            if field is not None and field.enumeration and entry["cdf_type"] == "CDF_CHAR":
                values = np.array([field.enumeration[int(v)] for v in values])
        else:
            kind, channel = entry["derived"].split(":")
            n = ds.sizes[schema.channels[channel].dim]
            values = {"time_from_trigger": lambda: ds.idex.time(channel).values,
                      "sample_index": lambda: np.arange(n),
                      "sample_label": lambda: np.arange(n).astype(str)}[kind]()
            dims = dims or [name]
        if entry["cdf_type"] != "CDF_TIME_TT2000":
            values = np.asarray(values).astype(_DTYPES[entry["cdf_type"]])
        if name == "epoch":
            dims = ["epoch"]
        variables[name] = (dims, values, attrs)
    out = xr.Dataset(variables)
    out.attrs = dict(profile()["global_attributes"])
    return out
