"""``ds.idex.fit()``: fit every event's waveforms with the models the schema declares.

For each channel in the schema's ``fits`` section the calibrated waveform is fitted on its time axis
relative to the trigger (µs) by the compiled Levenberg–Marquardt engine (:mod:`idex.fit.engine`), all events
in one call, with initial guesses computed from each event's data (:mod:`idex.fit.guesses`). On a
dask-backed Dataset the work stays lazy and runs per chunk of events (``xarray.apply_ufunc`` with
``dask="parallelized"``), so it scales out on a ``dask.distributed`` cluster unchanged. One failed
event never stops the others: its parameters are NaN, ``<channel>_fit_success`` is False and
``<channel>_fit_message`` says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import MissingKeyError
from idex.fit.columns import FitColumns
from idex.fit.detection import significance, threshold
from idex.fit.engine import levenberg_marquardt
from idex.fit.grid import grid_start
from idex.fit.guesses import shape_of, starts
from idex.fit.models import MODELS, impact_peak
from idex.fit.onset import scan_onset
from idex.model.calibration import calibrated, schema_of
from idex.model.dataset import stored_form
from idex.model.quality import STATUS_MESSAGES, FitStatus, QualityFlag, without_flags
from idex.model.timing import time_from_trigger
from idex.schema import FitSpec, Schema

__all__ = ["fit", "fit_arrays", "fit_quality", "with_fits"]

_COLUMN = "fit_column"
_SCAN_MARGIN = 1.0
"""Records whose significance is this far below the detection threshold get no onset scan (:mod:`idex.fit.onset`):
a scan lowers χ² by a fraction of the noise variance, which moves the significance by far less."""


def fit_arrays(
    t: np.ndarray, y: np.ndarray, spec: FitSpec, *, max_iterations: int = 1000, initial: np.ndarray | None = None
) -> np.ndarray:
    """Fit ``y`` (``(n, m)``, NaN = missing) on times ``t`` with ``spec``; return one row of outputs per event.

    :class:`~idex.fit.columns.FitColumns` names the columns: the parameters, their standard errors, χ², reduced
    χ², status code (:class:`~idex.model.quality.FitStatus`), iterations, (impact model) the peak time and signed
    peak height, and the evidence for a pulse (:func:`idex.fit.detection.significance`). This is the typed core that
    :func:`fit` maps over chunks of events. Every event is fitted from the starts of
    :func:`idex.fit.guesses.starts`, or from ``initial`` (``(n, k)``, e.g. values a user chose for a refit)
    alone; where the evidence is below the threshold of ``spec.false_alarm_probability`` the status is
    ``no_signal`` and the fit's numbers are NaN (the significance stays).
    """
    model = MODELS[spec.model]
    k = len(model.parameters)
    n = y.shape[0]
    columns = FitColumns.of(spec)
    out = np.full((n, len(columns)), np.nan)
    if n == 0:
        return out
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    valid = np.isfinite(y) & np.isfinite(t)
    baseline = valid & (t >= spec.baseline_us[0]) & (t <= spec.baseline_us[1])
    with warnings.catch_warnings():  # events without a single valid sample: their guesses are NaN, the fit says so
        warnings.simplefilter("ignore", RuntimeWarning)
        filled = np.where(valid, y, np.nanmean(np.where(valid, y, np.nan), axis=1, keepdims=True))
        shape = shape_of(t, filled, baseline, positive=spec.positive)
        p0 = (
            starts(shape, [p.initial for p in spec.parameters])
            if initial is None
            else np.asarray(initial, dtype=np.float64).reshape(n, k)
        )
    lower = np.array([p.min for p in spec.parameters])
    upper = np.array([p.max for p in spec.parameters])
    if initial is None and spec.model == "impact":  # one more start, global: the best point of a coarse grid
        p0 = np.concatenate([p0, grid_start(t, y, valid, lower, upper)[None]])
    with np.errstate(all="ignore"):
        result = levenberg_marquardt(
            model, np.where(valid, t, 0.0), y, p0, lower=lower, upper=upper, mask=valid, max_iterations=max_iterations
        )
    with np.errstate(all="ignore"):
        curve = model.function(t, np.where(np.isfinite(result.params), result.params, np.nan))
    evidence = significance(t, y, valid, curve, k)
    cut = threshold(spec.false_alarm_probability, y.shape[1])
    if initial is None and spec.model == "impact":  # the onset's best sample cell near the optimum (chi2 kinks)
        near = evidence >= cut - _SCAN_MARGIN  # far below the cut a record's numbers are withheld: not worth a scan
        result = scan_onset(model, t, y, valid, lower, upper, result, scan=near, max_iterations=max_iterations)
        times = np.broadcast_to(t, y.shape)[near]
        with np.errstate(all="ignore"):
            curve[near] = model.function(times, result.params[near])
        evidence[near] = significance(times, y[near], valid[near], curve[near], k)
    quiet = ~(evidence >= cut)
    status = np.where(quiet & np.isfinite(evidence), FitStatus.NO_SIGNAL, result.status)
    out[:, columns.values] = result.params
    out[:, columns.errors] = result.stderr
    out[:, columns["chisqr"]] = result.chisqr
    out[:, columns["redchi"]] = result.redchi
    if spec.model == "impact":
        out[:, columns["peak_time"]], out[:, columns["peak_height"]] = impact_peak(result.params)
    out[status == FitStatus.NO_SIGNAL] = np.nan  # the data do not support a pulse: no numbers
    out[:, columns["status"]] = status
    out[:, columns["iterations"]] = result.iterations
    out[:, columns["significance"]] = evidence
    return out


def fit(
    ds: xr.Dataset,
    channels: Iterable[str] | None = None,
    *,
    curves: bool = False,
    merge: bool = False,
    max_iterations: int = 1000,
    specs: Mapping[str, FitSpec] | None = None,
    schema: str | PathLike | Schema | None = None,
) -> xr.Dataset:
    """Fit the waveforms of every event.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model from :func:`~idex.decode.raw.open_raw` (in memory or dask-backed).
    channels : iterable of str, optional
        Channels to fit (default: every channel in the schema's ``fits`` section).
    curves : bool
        Also return the fitted model curves ``<channel>_fit_curve`` on the channel's sample axis.
    merge : bool
        Return ``ds`` with the fit outputs added (replacing those of an earlier fit) and the fit bits of
        ``quality_flags`` (``FIT_FAILED``, ``FIT_AT_BOUND``, ``FIT_UNDETERMINED``, ``NO_SIGNAL``) set from
        the fit statuses, instead of the fit outputs alone.
    max_iterations : int
        Iteration limit of the final (polishing) fit of each event.
    specs : mapping of str to FitSpec, optional
        Fit declarations to use instead of the schema's ``fits`` section (e.g. a scope setup's).
    schema : str, path or Schema, optional
        Schema whose ``fits`` section to use instead of the one the data carry
        (:func:`~idex.model.calibration.schema_of`).

    Returns
    -------
    xarray.Dataset
        On the same ``event`` axis, per channel and parameter: ``<channel>_fit_<parameter>`` and
        ``..._stderr``; ``<channel>_fit_chisqr``, ``_redchi``, ``_success``, ``_status``,
        ``_message``, ``_iterations``, ``_significance`` (the evidence for a pulse, :mod:`idex.fit.detection`:
        ``no_signal`` below the schema's false-alarm threshold); for the impact model
        ``<channel>_impact_charge`` (``|peak − baseline|``, pC) and ``<channel>_peak_time`` (µs from the trigger).

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> fits = ds.idex.fit(["target_low"])
    >>> fits["target_low_fit_success"].sel(event=1).item(), fits["target_low_fit_amplitude"].attrs["units"]
    (True, 'pC')
    """
    specs = specs if specs is not None else schema_of(ds, schema).fits
    names = list(channels) if channels is not None else [c for c in specs if c in ds]
    unknown = [c for c in names if c not in specs]
    if unknown:
        raise MissingKeyError(
            f"{ds.attrs.get('idex_schema', 'this dataset')!r} declares no fit for {unknown}; "
            f"fits exist for {sorted(specs)}"
        )
    chosen = {name: specs[name] for name in names}
    if any(ds[name].chunks for name in names):  # dask: one task per chunk fits every channel
        triggers = sorted({ds[name].attrs["trigger_time"] for name in names})
        blocks = stored_form(ds)[[*names, *triggers]]
        indexed = [name for name in blocks.xindexes if name not in blocks.dims]  # e.g. epoch, when event numbers repeat
        fits = xr.map_blocks(
            _fit_in_memory,
            blocks.drop_vars(indexed),  # map_blocks splits no such index
            kwargs={"specs": chosen, "curves": curves, "max_iterations": max_iterations},
        )
        fits = fits.assign_coords(blocks[indexed].coords) if indexed else fits
    else:
        fits = _fit_in_memory(ds, chosen, curves=curves, max_iterations=max_iterations)
    return with_fits(ds, fits) if merge else fits


def with_fits(ds: xr.Dataset, fits: xr.Dataset) -> xr.Dataset:
    """``ds`` with the fit outputs ``fits`` of the same events merged in (a refit replaces) and the fit bits of
    ``quality_flags`` set from them; what ``fit(..., merge=True)`` returns.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model.
    fits : xarray.Dataset
        ``fit(ds, ..., merge=False)``, or its blocks of events concatenated in order.

    Returns
    -------
    xarray.Dataset
    """
    merged = ds.drop_vars([name for name in fits.data_vars if name in ds]).merge(
        fits, compat="override", join="exact"
    )  # same events and coordinates: nothing to compare
    merged["quality_flags"] = fit_quality(merged)
    return merged


def _fit_in_memory(ds: xr.Dataset, specs: Mapping[str, FitSpec], *, curves: bool, max_iterations: int) -> xr.Dataset:
    """The fit outputs of every channel of ``specs`` for in-memory ``ds`` (once per chunk of a dask dataset)."""
    values = calibrated(ds, list(specs))
    outputs: dict[str, xr.DataArray] = {}
    for name, spec in specs.items():
        dim = ds[name].dims[-1]
        units = ds[name].attrs.get("calibration_units", "")
        time = time_from_trigger(ds, name)
        table = xr.apply_ufunc(
            fit_arrays,
            time,
            values[name],
            kwargs={"spec": spec, "max_iterations": max_iterations},
            input_core_dims=[[dim], [dim]],
            output_core_dims=[[_COLUMN]],
        )
        outputs.update(_named_outputs(table, spec, units))
        outputs[f"{name}_fit_significance"].attrs.update(  # the cut this record was judged by, for users and plots
            false_alarm_probability=spec.false_alarm_probability,
            detection_threshold=threshold(spec.false_alarm_probability, ds.sizes[dim]),
        )
        if curves:
            parameters = table.isel({_COLUMN: FitColumns.of(spec).values})
            curve = xr.apply_ufunc(
                MODELS[spec.model].function,
                time,
                parameters,
                input_core_dims=[[dim], [_COLUMN]],
                output_core_dims=[[dim]],
            )
            curve.attrs = {"long_name": f"Fitted {spec.model} model of {name}", "units": units}
            outputs[f"{name}_fit_curve"] = curve.transpose("event", dim)
    return xr.Dataset(outputs, attrs={"idex_schema": ds.attrs.get("idex_schema", "")})


_FLAG_OF_STATUS = {
    FitStatus.ITERATION_LIMIT: QualityFlag.FIT_FAILED,
    FitStatus.NOT_FINITE: QualityFlag.FIT_FAILED,
    FitStatus.AT_BOUND: QualityFlag.FIT_AT_BOUND,
    FitStatus.UNDETERMINED: QualityFlag.FIT_UNDETERMINED,
    FitStatus.NO_SIGNAL: QualityFlag.NO_SIGNAL,
}
_FIT_FLAGS = QualityFlag.FIT_FAILED | QualityFlag.FIT_AT_BOUND | QualityFlag.FIT_UNDETERMINED | QualityFlag.NO_SIGNAL


def fit_quality(ds: xr.Dataset) -> xr.DataArray:
    """``quality_flags`` with the fit bits set from every ``<channel>_fit_status`` in ``ds`` (and only from them).

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> fitted = ds.idex.fit(["ion_grid"], merge=True)
    >>> status = fitted["ion_grid_fit_status"].values
    >>> bool(((fitted["quality_flags"].values & idex.QualityFlag.NO_SIGNAL) > 0).tolist() == (status == 5).tolist())
    True
    """
    flags = without_flags(ds["quality_flags"], _FIT_FLAGS)
    for name in ds.data_vars:
        if not str(name).endswith("_fit_status"):
            continue
        for status, flag in _FLAG_OF_STATUS.items():
            flags = flags | xr.where(ds[name] == int(status), np.uint16(flag), np.uint16(0))
    flags = flags.astype(np.uint16)
    flags.attrs = ds["quality_flags"].attrs
    return flags


def _named_outputs(table: xr.DataArray, spec: FitSpec, data_units: str) -> dict[str, xr.DataArray]:
    columns = FitColumns.of(spec)
    name = spec.channel
    out = {}

    def column(label: str) -> xr.DataArray:
        return table.isel({_COLUMN: columns[label]}, drop=True)

    for parameter in spec.parameters:
        units = parameter.units or data_units
        value = column(parameter.name)
        value.attrs = {
            "long_name": f"{name} fit: {parameter.name.replace('_', ' ')}",
            "units": units,
            "model": spec.model,
            "initial_guess_rule": parameter.initial,
        }
        out[f"{name}_fit_{parameter.name}"] = value
        error = column(f"{parameter.name}_stderr")
        error.attrs = {"long_name": f"{name} fit: standard error of {parameter.name.replace('_', ' ')}", "units": units}
        out[f"{name}_fit_{parameter.name}_stderr"] = error
    status = column("status").fillna(int(FitStatus.NOT_FINITE)).astype(np.int8)
    status.attrs = {"long_name": f"{name} fit status", **FitStatus.flag_attributes()}
    out[f"{name}_fit_chisqr"] = _with(
        column("chisqr"), f"{name} fit chi-square", f"({data_units})^2" if data_units else "1"
    )
    out[f"{name}_fit_redchi"] = _with(
        column("redchi"),
        f"{name} fit reduced chi-square",
        f"({data_units})^2" if data_units else "1",
    )
    out[f"{name}_fit_status"] = status
    success = status == int(FitStatus.CONVERGED)
    success.attrs = {"long_name": f"{name} fit reached a determined optimum (status converged)"}
    out[f"{name}_fit_success"] = success
    out[f"{name}_fit_significance"] = _with(
        column("significance"),
        f"{name} evidence for a pulse: whitened sqrt(delta chi-square) of the fit against a drift",
        "1",
    )
    message = xr.apply_ufunc(_messages, status)
    message.attrs = {"long_name": f"{name} fit message"}
    out[f"{name}_fit_message"] = message
    out[f"{name}_fit_iterations"] = _with(
        column("iterations").fillna(0).astype(np.int32), f"{name} fit iterations", "1"
    )
    if spec.model == "impact":
        out[f"{name}_peak_time"] = _with(column("peak_time"), f"{name} time of the fitted peak from the trigger", "us")
        out[f"{name}_impact_charge"] = _with(
            abs(column("peak_height")),
            f"{name} impact signal: |peak - baseline| of the fit",
            data_units,
        )
    return out


def _with(array: xr.DataArray, long_name: str, units: str) -> xr.DataArray:
    array.attrs = {"long_name": long_name, "units": units}
    return array


def _messages(status: np.ndarray) -> np.ndarray:
    """Each status's message, as wide as the longest one given: no message is cut, and the width is the one a
    netCDF round trip gives back (variable-length text is read at the width of its longest value)."""
    picked = np.asarray(STATUS_MESSAGES)[np.asarray(status, dtype=np.int64)]
    return picked.astype(f"U{int(np.char.str_len(picked).max(initial=1))}")
