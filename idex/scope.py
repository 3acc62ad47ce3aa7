"""Dust-accelerator oscilloscope captures in the event model: LeCroy traces grouped into shots,
fitted with the same engine as telemetry, and joined to the accelerator's event log.

A declarative *scope setup* (``schemas/scope/*.yaml``) says which scope channel is which detector,
its V→pC gain and polarity, how files are named, how to clean and fit each channel, the pickup-tube
geometry and the accelerator's database table. A new lab setup is a new YAML file.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.background import lowpass, remove_sine
from idex.dataset import time_coordinate, waveform_channels
from idex.exceptions import PacketWarning, SchemaError, ValidationResult
from idex.fitting import fit
from idex.io.atomic import save_figure
from idex.io.trc import Trace, read_trc
from idex.lm import levenberg_marquardt
from idex.models import MODELS
from idex.quality import FitStatus, QualityFlag
from idex.resources import data_dir, read_yaml
from idex.schema import FitSpec, fit_specs, schema_dirs

__all__ = ["ScopeSetup", "fit_shots", "join_accelerator", "load_setup", "open_trc", "process_campaign"]

log = logging.getLogger(__name__)
_ELEMENTARY = 1e-12  # C per pC


@dataclass(frozen=True)
class ScopeChannel:
    """One scope input: which detector it is and how volts become physical units."""

    name: str
    scope_channel: str
    gain: float
    units: str
    polarity: int
    long_name: str


@dataclass(frozen=True)
class ScopeSetup:
    """A validated scope setup (see ``schemas/scope/idex_dust_accelerator.yaml``)."""

    name: str
    description: str
    file_pattern: re.Pattern[str]
    shot_tolerance_s: float
    channels: Mapping[str, ScopeChannel]
    background: Mapping[str, Mapping[str, Any]]
    fits: Mapping[str, FitSpec]
    qd: Mapping[str, Any] | None
    database: Mapping[str, Any] | None

    @property
    def by_scope_channel(self) -> dict[str, ScopeChannel]:
        """Setup channels keyed by scope input (``C1``..``C4``)."""
        return {c.scope_channel: c for c in self.channels.values()}


def load_setup(setup: str | PathLike = "idex_dust_accelerator") -> ScopeSetup:
    """Load a scope setup by name (``schemas/scope/<name>.yaml`` or ``$IDEX_SCHEMA_PATH/scope/``) or path."""
    text = str(setup)
    path = Path(text)
    if not text.endswith((".yaml", ".yml")):
        candidates = [folder / "scope" / f"{text}.yaml" for folder in schema_dirs()]
        path = next((c for c in candidates if c.is_file()), candidates[-1])
    result = ValidationResult(str(path))
    if not path.is_file():
        shipped = sorted(p.stem for p in (data_dir("schemas") / "scope").glob("*.yaml"))
        result.add("not-found", "", f"no such scope setup; shipped setups are: {shipped}")
        raise SchemaError(result)
    doc = read_yaml(path)
    for key in ("schema", "name", "file_pattern", "channels"):
        if key not in doc:
            result.add("structure", key, "required key is missing")
    if not result.ok:
        raise SchemaError(result)
    channels = {}
    for name, entry in doc["channels"].items():
        missing = [k for k in ("scope_channel", "gain", "units") if k not in entry]
        if missing:
            result.add("structure", f"channels.{name}", f"missing {missing}")
            continue
        channels[name] = ScopeChannel(name, entry["scope_channel"], float(entry["gain"]), entry["units"],
                                      int(entry.get("polarity", 1)), entry.get("long_name", name))
    try:
        pattern = re.compile(doc["file_pattern"])
        if not {"channel", "shot"} <= set(pattern.groupindex):
            result.add("pattern", "file_pattern", "needs the named groups (?P<channel>...) and (?P<shot>...)")
    except re.error as exc:
        result.add("pattern", "file_pattern", f"not a regular expression: {exc}")
        pattern = re.compile("$^")
    fits = fit_specs(doc.get("fits", {}), set(channels),
                     lambda code, where, message: result.add(code, ".".join(map(str, ("fits",) + where)), message))
    qd = doc.get("qd")
    if qd is not None and qd.get("channel") not in channels:
        result.add("unknown-name", "qd.channel", f"{qd.get('channel')!r} is not a channel")
    if not result.ok:
        raise SchemaError(result)
    return ScopeSetup(doc["name"], doc.get("description", ""), pattern, float(doc.get("shot_tolerance_s", 1.0)),
                      MappingProxyType(channels), MappingProxyType(doc.get("background", {})), MappingProxyType(fits),
                      MappingProxyType(qd) if qd else None, MappingProxyType(doc["database"]) if doc.get("database")
                      else None)


def open_trc(source: PathLike | Iterable[PathLike], *, setup: str | PathLike | ScopeSetup = "idex_dust_accelerator"
             ) -> xr.Dataset:
    """Read LeCroy traces into the event model: one ``event`` per shot, channels named by the setup.

    Parameters
    ----------
    source : path or iterable of paths
        A folder of ``.trc`` files named by the setup's file pattern, or the files themselves; files given
        by name whose names do not follow the pattern form one shot, each channel found from the scope
        input it was recorded on (``WAVE_SOURCE``). Sequence-mode files give one event per segment.
    setup : str, path or ScopeSetup
        Scope setup name or file.

    Returns
    -------
    xarray.Dataset
        Per channel ``<name>`` (event, ``sample_<name>``) in volts with ``calibration_factor`` = gain ×
        polarity; time coordinate ``time_<name>`` (µs from the record start) and per-event
        ``trigger_time_<name>``; ``shot``, ``epoch`` (scope trigger time) and ``quality_flags``
        (``MISSING_CHANNEL`` for shots lacking a channel, reported with a warning).
    """
    setup = setup if isinstance(setup, ScopeSetup) else load_setup(setup)
    if isinstance(source, (str, os.PathLike)):
        files = sorted(Path(source).glob("*.trc")) if Path(source).is_dir() else [Path(source)]
    else:
        files = sorted(Path(p) for p in source)
    shots: dict[str, dict[str, tuple[Trace, int]]] = defaultdict(dict)
    named_by_setup = isinstance(source, (str, os.PathLike)) and Path(source).is_dir()
    for path in files:
        match = setup.file_pattern.match(path.name)
        if match:
            channel, shot = setup.by_scope_channel.get(f"C{match['channel']}"), match["shot"]
        elif not named_by_setup:  # traces given by name: one shot, channels from the scope input they came from
            channel, shot = setup.by_scope_channel.get(read_trc(path, header_only=True).source_channel), "0"
        else:
            channel = None
        if channel is None:
            warnings.warn(f"{path.name}: name does not match the setup's file pattern or channel map; skipped",
                          PacketWarning, stacklevel=2)
            continue
        trace = read_trc(path)
        for segment in range(trace.volts.shape[0]):
            key = shot if trace.volts.shape[0] == 1 else f"{shot}.{segment}"
            shots[key][channel.name] = (trace, segment)
    if not shots:
        raise FileNotFoundError(f"no .trc file matching {setup.file_pattern.pattern!r} in {source}")
    keys = sorted(shots, key=lambda k: tuple(int(p) for p in k.split(".")))
    n = len(keys)
    quality = np.zeros(n, np.uint16)
    epoch = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {}
    for row, key in enumerate(keys):
        triggers = [trace.header.trigger_time + np.timedelta64(int(round(trace.trigger_times[segment] * 1e9)), "ns")
                    for trace, segment in shots[key].values()]
        epoch[row] = min(triggers)
        if (max(triggers) - min(triggers)) / np.timedelta64(1, "s") > setup.shot_tolerance_s:
            warnings.warn(f"shot {key}: traces triggered {max(triggers) - min(triggers)} apart", PacketWarning,
                          stacklevel=2)
    for name, channel in setup.channels.items():
        present = [(row, shots[key][name]) for row, key in enumerate(keys) if name in shots[key]]
        if not present:
            continue
        first = present[0][1][0]
        width, interval = first.volts.shape[1], first.header.horiz_interval
        values = np.full((n, width), np.nan)
        trigger = np.full(n, np.nan)
        for row, (trace, segment) in present:
            if trace.volts.shape[1] != width or trace.header.horiz_interval != interval:
                raise ValueError(f"{trace.path.name}: {trace.volts.shape[1]} samples every "
                                 f"{trace.header.horiz_interval} s, but {first.path.name} has {width} every {interval}")
            values[row] = trace.volts[segment]
            trigger[row] = -trace.trigger_offsets[segment] * 1e6
        for row, key in enumerate(keys):
            if name not in shots[key]:
                quality[row] |= np.uint16(QualityFlag.MISSING_CHANNEL)
                warnings.warn(f"shot {key}: no {name} trace ({channel.scope_channel}); samples are NaN",
                              PacketWarning, stacklevel=2)
        dim, time = f"sample_{name}", f"time_{name}"
        coords[time] = time_coordinate(dim, width, interval * 1e6)
        data[f"trigger_time_{name}"] = ("event", trigger, {"long_name": f"{name} trigger time from the record start",
                                                           "units": "us"})
        data[name] = (("event", dim), values, {
            "long_name": channel.long_name, "units": "V", "scope_channel": channel.scope_channel,
            "calibration_factor": channel.gain * channel.polarity, "calibration_units": channel.units,
            "time": time, "trigger_time": f"trigger_time_{name}"})
    data["quality_flags"] = ("event", quality, {"long_name": "Event quality flags", **QualityFlag.flag_attributes()})
    data["shot"] = ("event", np.array(keys), {"long_name": "Shot number (file number[.segment])"})
    coords.update(event=("event", np.arange(1, n + 1)), epoch=("event", epoch, {"long_name": "Scope trigger time"}))
    return xr.Dataset(data, coords=coords, attrs={"idex_scope_setup": setup.name, "title": "IDEX accelerator shots"})


def _cleaned(ds: xr.Dataset, setup: ScopeSetup) -> xr.Dataset:
    """Calibrated fitted channels with the setup's background removal applied (units: the channel's)."""
    out = {}
    for name in setup.fits:
        if name not in ds:
            continue
        t = ds.idex.time(name).values
        y = (ds[name] * ds[name].attrs["calibration_factor"]).values
        options = setup.background.get(name, {})
        spec = setup.fits[name]
        for row in range(y.shape[0]):
            if not np.isfinite(y[row]).any():
                continue
            quiet = (t[row] >= spec.baseline_us[0]) & (t[row] <= spec.baseline_us[1])
            if options.get("line_and_sine") and quiet.sum() >= 8:
                baseline_level = np.mean(y[row][quiet])
                y[row] = remove_sine(t[row], y[row], quiet)[0] + baseline_level
            if options.get("lowpass_mhz"):
                y[row] = lowpass(t[row], y[row], options["lowpass_mhz"])
        out[name] = (ds[name].dims, y, {**ds[name].attrs, "calibration_factor": 1.0})
    return ds.assign(out)


def _qd_guess(t: np.ndarray, y: np.ndarray, qd: Mapping[str, Any]) -> np.ndarray:
    """Entry time, charge and velocity from where the signal crosses 2/3 of its extreme around it."""
    baseline = np.nanmedian(y[: max(8, y.size // 10)])
    signal = y - baseline
    peak = int(np.nanargmax(np.abs(signal)))
    level = 2 / 3 * signal[peak]
    beyond = np.abs(signal) >= abs(level)
    before = np.flatnonzero(~beyond[:peak])
    after = np.flatnonzero(~beyond[peak:])
    t_a = t[before[-1] + 1] if before.size else t[0]
    t_b = t[peak + after[0] - 1] if after.size else t[-1]
    span = max(t_b - t_a, t[1] - t[0])
    velocity = (qd["tube_length_cm"] - 2 * qd["tube_diameter_cm"]) / span * 10.0  # cm/µs -> km/s
    return np.array([t_a - qd["tube_diameter_cm"] / velocity * 10.0 * 0.5, signal[peak], velocity])


def fit_shots(ds: xr.Dataset, setup: str | PathLike | ScopeSetup | None = None) -> xr.Dataset:
    """Fit every shot: impact model on target/ion grid (after background removal) and the QD pickup tube.

    Returns
    -------
    xarray.Dataset
        ``ds`` plus the impact fit outputs of :func:`idex.fitting.fit` and, with a ``qd`` section,
        ``qd_fit_entry_time``/``_charge``/``_velocity`` (+ ``_stderr``, ``qd_fit_success``),
        ``particle_charge`` (pC), ``particle_velocity`` (km/s) and ``particle_mass`` (kg, 2qU/v²).
    """
    setup = setup if isinstance(setup, ScopeSetup) else load_setup(setup or ds.attrs["idex_scope_setup"])
    impacts = fit(_cleaned(ds, setup), [c for c in setup.fits if c in ds], specs=setup.fits, curves=True)
    out = ds.merge(impacts)
    if setup.qd is None or setup.qd["channel"] not in ds:
        return out
    qd = setup.qd
    name = qd["channel"]
    t = ds.idex.time(name).values
    y = (ds[name] * ds[name].attrs["calibration_factor"]).values
    valid = np.isfinite(y)
    p0 = np.array([_qd_guess(t[i][valid[i]], y[i][valid[i]], qd) if valid[i].sum() > 16 else np.full(3, np.nan)
                   for i in range(y.shape[0])])
    model = MODELS["qd"].with_constants(qd["tube_length_cm"], qd["tube_diameter_cm"], qd["decay_us"])
    baseline = np.nanmedian(np.where(valid, y, np.nan)[:, : max(8, y.shape[1] // 10)], axis=1)
    result = levenberg_marquardt(model, np.where(valid, t, 0.0), y - baseline[:, None], p0,
                                 lower=np.array([-np.inf, -np.inf, 1e-3]), mask=valid)
    units = {"entry_time": "us", "charge": ds[name].attrs["calibration_units"], "velocity": "km/s"}
    for i, parameter in enumerate(model.parameters):
        out[f"qd_fit_{parameter}"] = ("event", result.params[:, i], {"long_name": f"QD fit: {parameter}",
                                                                     "units": units[parameter]})
        out[f"qd_fit_{parameter}_stderr"] = ("event", result.stderr[:, i], {"units": units[parameter],
                                                                            "long_name": f"QD fit: error of {parameter}"})
    out["qd_fit_success"] = ("event", result.success, {"long_name": "QD fit reached a determined optimum"})
    out["qd_fit_status"] = ("event", result.status.astype(np.int8), {"long_name": "QD fit status",
                                                                      **FitStatus.flag_attributes()})
    earned = np.where(result.success[:, None], result.params, np.nan)  # particle values only from successful fits
    charge_c = np.abs(earned[:, 1]) * _ELEMENTARY
    speed = earned[:, 2] * 1e3
    out["particle_charge"] = ("event", np.abs(earned[:, 1]), {"long_name": "Particle charge from the QD fit",
                                                              "units": units["charge"]})
    out["particle_velocity"] = ("event", earned[:, 2], {"long_name": "Particle velocity from the QD fit",
                                                        "units": "km/s"})
    with np.errstate(all="ignore"):
        out["particle_mass"] = ("event", 2 * charge_c * qd["accelerator_voltage_v"] / speed**2,
                                {"long_name": "Particle mass, 2 q U / v^2", "units": "kg"})
    return out


def join_accelerator(ds: xr.Dataset, url: str | None = None, setup: str | PathLike | ScopeSetup | None = None
                     ) -> xr.Dataset:
    """Attach the accelerator's assigned values to each shot.

    For each shot, the last accelerator event at or before the scope trigger whose velocity matches
    the QD velocity within the setup's tolerance. Table and column names come from the setup, the
    connection URL from ``url`` or the environment variable the setup names (any SQLAlchemy URL).
    Unmatched shots get NaN and are reported; a missing database is reported, not fatal.

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``accelerator_time``, ``accelerator_velocity``, ``accelerator_mass``,
        ``accelerator_charge``, ``accelerator_radius``.
    """
    import sqlalchemy as sa

    setup = setup if isinstance(setup, ScopeSetup) else load_setup(setup or ds.attrs["idex_scope_setup"])
    config = setup.database
    if config is None:
        raise KeyError(f"scope setup {setup.name!r} has no 'database' section")
    url = url or os.environ.get(config["url_environment_variable"])
    n = ds.sizes["event"]
    result = {key: np.full(n, np.nan) for key in ("velocity", "mass", "charge", "radius")}
    when = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if not url:
        warnings.warn(f"no accelerator database: pass a URL or set ${config['url_environment_variable']}",
                      PacketWarning, stacklevel=2)
    else:
        columns = config["columns"]
        table = sa.table(config["table"], *(sa.column(c) for c in columns.values()))
        start = ds["epoch"].values.min() - np.timedelta64(1, "h")
        query = (sa.select(*(table.c[columns[k]] for k in ("time", "velocity", "mass", "charge", "radius")))
                 .where(table.c[columns["time"]] >= start.astype("datetime64[us]").item(),
                        table.c[columns["time"]] <= ds["epoch"].values.max().astype("datetime64[us]").item())
                 .order_by(table.c[columns["time"]]))
        try:
            engine = sa.create_engine(url)
            with engine.connect() as connection:
                rows = connection.execute(query).fetchall()
            engine.dispose()
        except sa.exc.SQLAlchemyError as error:
            warnings.warn(f"accelerator database unavailable ({type(error).__name__}: {str(error).splitlines()[0]})",
                          PacketWarning, stacklevel=2)
            rows = []
        times = np.array([np.datetime64(r[0], "ns") for r in rows], dtype="datetime64[ns]")
        speeds = np.array([r[1] for r in rows], dtype=float)
        qd_speed = ds["particle_velocity"].values if "particle_velocity" in ds else np.full(n, np.nan)
        for i in range(n):
            candidates = np.flatnonzero((times <= ds["epoch"].values[i])
                                        & (np.abs(speeds - qd_speed[i]) <= config["velocity_tolerance_kms"]))
            if candidates.size == 0:
                if rows:
                    warnings.warn(f"shot {ds['shot'].values[i]}: no accelerator event before it with velocity "
                                  f"{qd_speed[i]:.3f} ± {config['velocity_tolerance_kms']} km/s", PacketWarning,
                                  stacklevel=2)
                continue
            row = rows[candidates[-1]]
            when[i] = times[candidates[-1]]
            for j, key in enumerate(("velocity", "mass", "charge", "radius")):
                result[key][i] = row[j + 1]
    units = {"velocity": "km/s", "mass": "kg", "charge": "C", "radius": "m"}
    extra = {f"accelerator_{k}": ("event", v, {"long_name": f"Accelerator-assigned {k}", "units": units[k]})
             for k, v in result.items()}
    extra["accelerator_time"] = ("event", when, {"long_name": "Time of the matched accelerator event"})
    return ds.assign(extra)


def process_campaign(folder: PathLike, output: PathLike, *, setup: str | PathLike = "idex_dust_accelerator",
                     url: str | None = None, quicklook: bool = True, force: bool = False) -> bool:
    """Read, fit and join one campaign folder; write ``shots.nc``, ``shots.csv`` and per-shot figures.

    Returns
    -------
    bool
        False when the products are newer than every trace and ``force`` is False (nothing done).
    """
    from idex.io import to_csv, to_netcdf

    folder, output = Path(folder), Path(output)
    traces = sorted(folder.glob("*.trc"))
    product = output / "shots.nc"
    if not force and product.exists() and all(t.stat().st_mtime_ns <= product.stat().st_mtime_ns for t in traces):
        return False
    output.mkdir(parents=True, exist_ok=True)
    loaded = load_setup(setup)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PacketWarning)
        ds = fit_shots(open_trc(folder, setup=loaded), loaded)
        if loaded.database is not None:
            ds = join_accelerator(ds, url, loaded)
    for warning in caught:
        log.warning("%s: %s", folder.name, warning.message)
    ds.attrs["problems"] = "; ".join(str(w.message) for w in caught)
    to_netcdf(ds, product, overwrite=True)
    to_csv(ds, output / "shots.csv", overwrite=True)
    if quicklook:
        _shot_figures(ds, output)
    return True


def _shot_figures(ds: xr.Dataset, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    channels = waveform_channels(ds)
    for number in ds["event"].values:
        fig, axes = plt.subplots(len(channels), 1, figsize=(10, 2.4 * len(channels)), constrained_layout=True)
        for ax, name in zip(np.atleast_1d(axes), channels):
            time = ds.idex.time(name).sel(event=number)
            values = ds[name].sel(event=number) * ds[name].attrs["calibration_factor"]
            ax.plot(time, values, color="black", lw=0.6)
            if f"{name}_fit_curve" in ds:
                ax.plot(time, ds[f"{name}_fit_curve"].sel(event=number), color="tab:red", lw=1)
            ax.set_ylabel(f"{name} [{ds[name].attrs['calibration_units']}]")
        np.atleast_1d(axes)[-1].set_xlabel("time from trigger [µs]")
        row = ds.sel(event=number)
        title = f"shot {row['shot'].values}"
        if "particle_velocity" in ds:
            title += f"  v = {float(row['particle_velocity']):.3g} km/s, m = {float(row['particle_mass']):.3g} kg"
        fig.suptitle(title)
        save_figure(fig, folder / f"shot_{row['shot'].values}.png", dpi=80)
        plt.close(fig)
