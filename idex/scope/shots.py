"""LeCroy traces grouped into shots: one event per shot, one channel per detector, on the setup's time axes."""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import InputError, PacketWarning
from idex.io.trc import Trace, read_trc
from idex.model.dataset import time_coordinate
from idex.model.quality import QualityFlag
from idex.scope.setups import ScopeSetup, load_setup

__all__ = ["open_trc"]


def open_trc(
    source: PathLike | Iterable[PathLike], *, setup: str | PathLike | ScopeSetup = "idex_dust_accelerator"
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
            warnings.warn(
                f"{path.name}: name does not match the setup's file pattern or channel map; skipped",
                PacketWarning,
                stacklevel=2,
            )
            continue
        trace = read_trc(path)
        for segment in range(trace.volts.shape[0]):
            key = shot if trace.volts.shape[0] == 1 else f"{shot}.{segment}"
            shots[key][channel.name] = (trace, segment)
    if not shots:
        raise FileNotFoundError(
            f"no .trc file named like C1Trace00001.trc (the setup's pattern {setup.file_pattern.pattern}) in {source}"
        )
    keys = sorted(shots, key=lambda k: tuple(int(p) for p in k.split(".")))
    n = len(keys)
    quality = np.zeros(n, np.uint16)
    epoch = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {}
    for row, key in enumerate(keys):
        triggers = [
            trace.header.trigger_time + np.timedelta64(int(round(trace.trigger_times[segment] * 1e9)), "ns")
            for trace, segment in shots[key].values()
        ]
        epoch[row] = min(triggers)
        if (max(triggers) - min(triggers)) / np.timedelta64(1, "s") > setup.shot_tolerance_s:
            warnings.warn(
                f"shot {key}: traces triggered {max(triggers) - min(triggers)} apart", PacketWarning, stacklevel=2
            )
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
                raise InputError(
                    f"{trace.path.name}: {trace.volts.shape[1]} samples every "
                    f"{trace.header.horiz_interval} s, but {first.path.name} has {width} every {interval}"
                )
            values[row] = trace.volts[segment]
            trigger[row] = -trace.trigger_offsets[segment] * 1e6
        for row, key in enumerate(keys):
            if name not in shots[key]:
                quality[row] |= np.uint16(QualityFlag.MISSING_CHANNEL)
                warnings.warn(
                    f"shot {key}: no {name} trace ({channel.scope_channel}); samples are NaN",
                    PacketWarning,
                    stacklevel=2,
                )
        dim, time = f"sample_{name}", f"time_{name}"
        coords[time] = time_coordinate(dim, width, interval * 1e6)
        data[f"trigger_time_{name}"] = (
            "event",
            trigger,
            {"long_name": f"{name} trigger time from the record start", "units": "us"},
        )
        data[name] = (
            ("event", dim),
            values,
            {
                "long_name": channel.long_name,
                "units": "V",
                "scope_channel": channel.scope_channel,
                "calibration_factor": channel.gain * channel.polarity,
                "calibration_units": channel.units,
                "time": time,
                "trigger_time": f"trigger_time_{name}",
            },
        )
    data["quality_flags"] = ("event", quality, {"long_name": "Event quality flags", **QualityFlag.flag_attributes()})
    data["shot"] = ("event", np.array(keys), {"long_name": "Shot number (file number[.segment])"})
    coords.update(
        event=("event", np.arange(1, n + 1), {"long_name": "Shot row"}),
        epoch=("event", epoch, {"long_name": "Scope trigger time"}),
    )
    return xr.Dataset(data, coords=coords, attrs={"idex_scope_setup": setup.name, "title": "IDEX accelerator shots"})
