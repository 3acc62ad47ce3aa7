"""Rates of a year of daily products: idex (one lazy collection, every window at once) against the mission
pipeline's ``idex_l2b`` (one call per 10-day window) on the same files, in the same run.

Input: ``--days`` (default 365) synthetic daily event files (netCDF, ``--per-day`` dust events each with the L2A
variables the rates use: epoch, dust_hit_flag, spin_phase, longitude, latitude, solar_longitude,
target_low_impact_charge, target_low_dust_mass_estimate) and one acquisition-message file. idex: ``idex rates``'s
path, ``open_products`` (dask, lazy) + ``rates(windows="official")``. Pipeline: for each official window, the files of
that window concatenated and ``idex_l2b`` run on them (in ``/work/oracle-venv``, imap-processing 1.0.40, with the
test LSK for its time conversions); its time includes reading the files, as idex's does. Both counts are checked
equal where the pipeline has no defect (no NaN phase, no duplicates in these inputs).

Run: ``python benchmarks/rates.py [--days 365] [--per-day 40] [--oracle /work/oracle-venv/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LSK = ROOT / "tests" / "data" / "spice" / "test.tls"
START = np.datetime64("2025-01-01", "ns")
_TIME = {"epoch": {"units": "microseconds since 2025-01-01", "dtype": "float64"}}


def synthesise(folder: Path, days: int, per_day: int) -> list[Path]:
    """Daily netCDF event files and ``messages.nc`` (acquisition on from the first day on)."""
    import xarray as xr

    rng = np.random.default_rng(365)
    files = []
    for day in range(days):
        offsets = (np.sort(rng.integers(0, 86_400 * 10**6, per_day)) * 1000).astype("timedelta64[ns]")  # whole µs
        epoch = START + np.timedelta64(day, "D") + offsets
        values = {
            "dust_hit_flag": np.ones(per_day, dtype=np.int32),
            "spin_phase": rng.uniform(0, 360, per_day),
            "longitude": rng.uniform(0, 360, per_day),
            "latitude": np.degrees(np.arcsin(rng.uniform(-1, 1, per_day))),
            "solar_longitude": np.full(per_day, (100.0 + 0.9856 * day) % 360.0 - 180.0),
            "target_low_impact_charge": 10 ** rng.uniform(-1, 4, per_day),
            "target_low_dust_mass_estimate": 10 ** rng.uniform(-16.2, -14, per_day),
        }
        path = folder / f"imap_idex_l2a_sci-1day_{np.datetime_as_string(epoch[0], unit='D').replace('-', '')}.nc"
        xr.Dataset(
            {k: ("event", v) for k, v in values.items()},
            coords={"epoch": ("event", epoch), "event": np.arange(per_day, dtype=np.int32)},
        ).to_netcdf(path, engine="scipy", encoding=_TIME)  # netCDF-3: the pipeline's venv reads it with SciPy
        files.append(path)
    xr.Dataset(
        {"science_on": ("message", np.array([1], dtype=np.uint8))},
        coords={"epoch": ("message", np.array([START - np.timedelta64(1, "D")]))},
    ).to_netcdf(folder / "messages.nc", engine="scipy", encoding=_TIME)
    return files


def run_idex(files: list[Path], messages: Path) -> tuple[float, dict[str, list[int]]]:
    import xarray as xr

    from idex.io.rate_products import rates
    from idex.opening import open_products

    begin = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = open_products([str(f) for f in files])
        out = rates(events, xr.open_dataset(messages).load(), windows="official", healpix_nside=0)
    seconds = time.perf_counter() - begin
    counts = {
        np.datetime_as_string(e, unit="D").replace("-", ""): c.tolist()
        for e, c in zip(out["epoch"].values, out["counts"].values, strict=True)
    }
    return seconds, counts


def run_pipeline(files: list[Path], messages: Path) -> tuple[float, dict[str, list[int]]]:
    """In the oracle venv: idex_l2b per official window on the same files."""
    import cdflib
    import pandas as pd
    import spiceypy
    import xarray as xr
    from imap_processing.idex import idex_utils
    from imap_processing.idex.idex_l2b import idex_l2b

    spiceypy.furnsh(str(LSK))
    schedule = pd.read_csv(idex_utils.IDEX_10_DAY_RANGES_PATH, dtype=str)
    day_of = {f: f.stem.rsplit("_", 1)[-1] for f in files}
    msg = xr.open_dataset(messages)
    msg_tt = np.array([cdflib.cdfepoch.parse(str(t)) for t in msg["epoch"].values], dtype=np.int64)
    counts, begin = {}, time.perf_counter()
    for start, end in zip(schedule["start_date"], schedule["end_date"], strict=True):
        chosen = [f for f in files if start <= day_of[f] < end]
        if not chosen:
            continue
        ds = xr.concat([xr.open_dataset(f) for f in chosen], dim="event")
        tt = np.array([cdflib.cdfepoch.parse(str(t)) for t in ds["epoch"].values], dtype=np.int64)
        l2a = ds.drop_vars(["epoch", "event"]).rename({"event": "epoch"}).assign_coords(epoch=tt)
        msg_l1b = xr.Dataset({"science_on": ("epoch", msg["science_on"].values)}, coords={"epoch": msg_tt})
        l2b, _ = idex_l2b(l2a, msg_l1b, start)
        counts[start] = l2b["counts"].values[0].tolist()
    return time.perf_counter() - begin, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--oracle", default="/work/oracle-venv/bin/python")
    parser.add_argument("--pipeline-on", help=argparse.SUPPRESS)  # internal: run the pipeline part on this folder
    args = parser.parse_args()
    if args.pipeline_on:
        folder = Path(args.pipeline_on)
        seconds, counts = run_pipeline(sorted(folder.glob("imap_idex_l2a_*.nc")), folder / "messages.nc")
        print(json.dumps({"seconds": seconds, "counts": counts}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = synthesise(folder, args.days, args.per_day)
        events = args.days * args.per_day
        idex_seconds, idex_counts = run_idex(files, folder / "messages.nc")
        print(
            f"idex:     {len(files)} files, {events} events, {len(idex_counts)} windows in {idex_seconds:.2f} s "
            f"-> {events / idex_seconds:,.0f} events/s, {len(files) / idex_seconds:,.1f} files/s"
        )
        result = subprocess.run(
            [args.oracle, __file__, "--pipeline-on", str(folder)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            print(f"pipeline: not run ({result.stderr.strip().splitlines()[-1] if result.stderr else 'failed'})")
            return
        pipeline = json.loads(result.stdout.strip().splitlines()[-1])
        p_seconds = pipeline["seconds"]
        print(
            f"pipeline: {len(files)} files, {events} events, {len(pipeline['counts'])} windows in {p_seconds:.2f} s "
            f"-> {events / p_seconds:,.0f} events/s, {len(files) / p_seconds:,.1f} files/s"
        )
        same = all(idex_counts.get(k) == v for k, v in pipeline["counts"].items())
        print(f"ratio idex/pipeline speed: {p_seconds / idex_seconds:.1f}x; counts per window identical: {same}")


if __name__ == "__main__":
    sys.exit(main())
