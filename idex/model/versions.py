"""Events of several packet versions in one model: the union of their fields, a per-event schema name.

Two packet versions (schemas) share their waveform channels and fits but not all their header fields:
the 2023-07 layout has separate trigger and HVPS words, the 2023-12 one packed words and converted
housekeeping. :func:`combine_versions` concatenates event models of any versions along ``event``:

- every per-event variable of any version is kept; where a version lacks it, the events hold a fill value
  of the variable's own type (the integer maximum for unsigned integers, the minimum for signed ones, NaN,
  NaT, ``False`` or ``""``), named in its ``fill_value_used`` attribute, and a ``comment`` says which
  versions lack it, so integer fields stay integers;
- the ``packet_schema`` coordinate names each event's schema;
- what a part holds lazily (rows or columns filled when read, the ``packet_schema`` and ``source`` coordinates:
  one string a part, a field the part's version lacks: its fill value) is stacked, not concatenated, so a capture
  of many minimal events costs no more for mixing two versions (:func:`idex.model.waveform_rows.stacked_rows`);
- the global attributes are those of the newest schema (by its validity start), whose channels and fits
  are the ones every version shares; ``idex_schemas`` lists all of them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from idex.exceptions import ProductError
from idex.model.provenance import schema_of
from idex.model.trigger_clocks import EVENT, stored_form, with_trigger_clocks
from idex.model.waveform_rows import constant_column, stacked_rows

__all__ = ["SCHEMA_COORDINATE", "combine_versions", "fill_value", "version_name", "with_schema_coordinate"]

SCHEMA_COORDINATE = "packet_schema"
"""Name of the per-event coordinate holding the name of the schema each event was decoded with."""

_COORDINATE = "__coordinate__"  # private marker in the templates' attributes: a coordinate in its model


def fill_value(dtype: np.dtype) -> object:
    """The fill value of a variable of ``dtype`` for events whose packet version lacks it.

    Examples
    --------
    >>> fill_value(np.dtype("uint16")), fill_value(np.dtype("int64")), fill_value(np.dtype("float32"))
    (np.uint16(65535), np.int64(-9223372036854775808), np.float32(nan))
    """
    if dtype.kind == "u":
        return dtype.type(np.iinfo(dtype).max)
    if dtype.kind == "i":
        return dtype.type(np.iinfo(dtype).min)
    if dtype.kind == "f":
        return dtype.type(np.nan)
    if dtype.kind == "M":
        return np.datetime64("NaT", "ns")
    if dtype.kind == "b":
        return np.False_
    return ""


def version_name(ds: xr.Dataset) -> str:
    """The packet schema of an event model, or the scope setup of accelerator shots."""
    return str(ds.attrs.get("idex_schema") or ds.attrs.get("idex_scope_setup", "?"))


def with_schema_coordinate(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the per-event ``packet_schema`` coordinate (:func:`version_name`), if it lacks one."""
    if SCHEMA_COORDINATE in ds.variables:
        return ds
    name = version_name(ds)
    empty = np.zeros(0, f"<U{max(len(name), 1)}")
    values = constant_column(empty, ds.sizes.get(EVENT, 0), name)  # one string, not one an event
    return ds.assign_coords(
        {SCHEMA_COORDINATE: (EVENT, values, {"long_name": "Packet schema (version) the event was decoded with"})}
    )


def _kind(ds: xr.Dataset) -> str:
    """What an event model without a packet schema was read from, for messages."""
    if "idex_scope_setup" in ds.attrs:
        return "accelerator shots (read with a scope setup)"
    source = ds.attrs.get("official_logical_source")
    return f"{source} products (no packet schema)" if source else "files without a packet schema"


def combine_versions(datasets: Sequence[xr.Dataset], order: np.ndarray | None = None) -> xr.Dataset:
    """Concatenate event models along ``event``, whatever their packet versions (see the module docstring).

    Parameters
    ----------
    datasets : sequence of xarray.Dataset
        Event models (in memory or dask-backed), in the order their events should follow.
    order : numpy.ndarray, optional
        The events' order, if not that one: event ``i`` of the result is event ``order[i]`` of the concatenation,
        as ``.isel(event=order)`` gives, the lazily held variables sharing this one index.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    ProductError
        If the versions do not share their waveform channels and fits (their events cannot be one model).
    """
    if not datasets:
        raise ProductError("no event model to combine")
    telemetry = ["idex_schema" in ds.attrs for ds in datasets]
    if any(telemetry) and not all(telemetry):
        others = sorted({_kind(ds) for ds, is_telemetry in zip(datasets, telemetry, strict=True) if not is_telemetry})
        raise ProductError(
            f"telemetry events (captures, L1a/L1b) and {' and '.join(others)} cannot share one model: open them apart"
        )
    schemas = [schema_of(ds) for ds in datasets] if all(telemetry) else []
    newest = max(range(len(schemas)), key=lambda i: schemas[i].valid_from) if schemas else 0
    for schema in schemas:
        if schema.channels != schemas[newest].channels or schema.fits != schemas[newest].fits:
            raise ProductError(
                f"packet versions {schema.name} and {schemas[newest].name} differ in their waveform "
                "channels or fits: their events cannot share one model"
            )
    clocks = any(len(stored_form(ds).variables) < len(ds.variables) for ds in datasets)
    prepared = [stored_form(with_schema_coordinate(ds)) for ds in datasets]  # the clocks are attached again
    per_event = _per_event_variables(prepared)
    filled = [_with_missing(ds, per_event) for ds in prepared]
    lazy = _lazy_rows(filled) if len(filled) > 1 else []
    if order is not None and np.array_equal(order, np.arange(order.size)):
        order = None  # already in order: no index to keep
    stacked = {name: stacked_rows([ds.variables[name] for ds in filled], order) for name in lazy}
    names = list(dict.fromkeys(version_name(ds) for ds in datasets))
    combined = (
        xr.concat(
            [ds.drop_vars(lazy) for ds in filled],
            dim=EVENT,
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="outer",
            combine_attrs="override",
        )
        if len(filled) > 1
        else filled[0]
    )
    if order is not None:
        combined = combined.isel({EVENT: order})
    if stacked:  # in their places, as concatenating them would have put them
        variables: dict[Hashable, xr.Variable] = {**combined.variables}
        variables.update(stacked)
        combined = xr.Dataset(
            {name: variables[name] for name in filled[0].data_vars},
            coords={name: variables[name] for name in filled[0].coords},
        )
    combined.attrs = {**datasets[newest].attrs, "idex_schemas": " ".join(names)}
    for name, (_, attrs) in per_event.items():
        lacking = [version_name(ds) for ds in prepared if name not in ds.variables]
        if lacking:
            kept = {k: v for k, v in attrs.items() if k != _COORDINATE}
            kept["comment"] = f"events of {', '.join(dict.fromkeys(lacking))} lack this field: fill value"
            if combined[name].dtype.kind in "uif":  # a number netCDF and CDF can store as an attribute
                kept["fill_value_used"] = fill_value(combined[name].dtype)
            combined[name].attrs = kept
    return with_trigger_clocks(combined) if clocks else combined


def _lazy_rows(datasets: Sequence[xr.Dataset]) -> list[str]:
    """The ``(event, ...)`` variables (waveforms, per-event columns and coordinates, fill values of fields a version
    lacks) that some dataset holds lazily without dask (rows filled or unpacked when read:
    :mod:`idex.model.waveform_rows`), and every dataset has with the same other dimensions: concatenating would
    build them whole, so they are stacked lazily instead."""
    first = datasets[0].variables
    return [
        str(name)
        for name in first
        if name != EVENT
        and first[name].ndim >= 1
        and first[name].dims[0] == EVENT
        and all(name in ds.variables and ds.variables[name].shape[1:] == first[name].shape[1:] for ds in datasets)
        and all(ds.variables[name].dims == first[name].dims and ds.variables[name].chunks is None for ds in datasets)
        and any(_lazy(ds.variables[name]) for ds in datasets)
    ]


def _lazy(variable: xr.Variable) -> bool:
    """True when ``variable`` is filled or read when indexed, without dask (xarray's own test of lazy data)."""
    return not variable._in_memory and variable.chunks is None


def _per_event_variables(datasets: Sequence[xr.Dataset]) -> dict[str, tuple[xr.Variable, dict]]:
    """Every variable on the ``event`` dimension of any dataset: a template (no event, the dimensions and other
    sizes of the first seen, the dtype common to all) and its attributes (of the first seen)."""
    found: dict[str, tuple[xr.Variable, dict]] = {}
    for ds in datasets:
        for key, variable in ds.variables.items():
            name = str(key)
            if name != EVENT and EVENT in variable.dims and name not in found:
                found[name] = (variable, {**variable.attrs, _COORDINATE: name in ds.coords})
    dtypes = {
        name: np.result_type(*(ds.variables[name].dtype for ds in datasets if name in ds.variables)) for name in found
    }
    return {
        name: (xr.Variable(template.dims, np.zeros(_no_event(template), dtypes[name])), attrs)
        for name, (template, attrs) in found.items()
    }


def _no_event(variable: xr.Variable) -> tuple[int, ...]:
    """The shape of ``variable`` with no event."""
    return tuple(0 if dim == EVENT else size for dim, size in variable.sizes.items())


def _with_missing(ds: xr.Dataset, per_event: dict[str, tuple[xr.Variable, dict]]) -> xr.Dataset:
    """``ds`` with a fill-valued variable for every per-event variable it lacks, in the common dtype."""
    added: dict[str, xr.Variable] = {}
    coords: dict[str, xr.Variable] = {}
    for name, (template, attrs) in per_event.items():
        if name in ds.variables:
            variable = ds.variables[name]
            if variable.dtype != template.dtype and not _lazy(variable):  # e.g. a uint16 field derived as int64 by
                # another version; a lazy one is stacked and read in the common dtype (:func:`_lazy_rows`)
                target = coords if name in ds.coords else added
                target[name] = variable.astype(template.dtype)
            continue
        shape = tuple(ds.sizes[d] if d in ds.sizes else template.sizes[d] for d in template.dims)
        plain = {k: v for k, v in attrs.items() if k != _COORDINATE}
        fill = fill_value(template.dtype)
        values = (
            constant_column(np.zeros((0, *shape[1:]), template.dtype), shape[0], fill)
            if template.dims[0] == EVENT
            else np.full(shape, fill, template.dtype)
        )
        (coords if attrs[_COORDINATE] else added)[name] = xr.Variable(template.dims, values, plain)
    return ds.assign(added).assign_coords(coords) if added or coords else ds
