"""Fits on a dask cluster: events per second with 1, 2 and 4 worker processes, one thread each.

Input: the 14 real events of the 2023-12-14 capture repeated to ``--events`` (default 20 000), the three
low-rate channels the impact fit uses, written to a netCDF file that every worker reads its own chunks
from (as on a cluster with a shared file system). ``ds.idex.fit()`` on the chunked dataset runs one
task per chunk for all three channels (``xarray.map_blocks``); ``.compute()`` is timed on a
``distributed.LocalCluster`` of each size, and every result is checked equal to the one-worker result.
Each worker is told to use one thread (``IDEX_NUM_THREADS=1``), so the workers are the only parallelism.

On a real cluster the same code runs with a scheduler address: ``idex batch DATA -o OUT --fit
--scheduler tcp://host:8786``, or ``Client("tcp://host:8786")`` before ``ds.idex.fit().compute()``; with
dask-jobqueue, ``SLURMCluster(cores=1, processes=1, memory="2GB").scale(jobs=N)`` and a ``Client`` on it.

Run: ``python benchmarks/dask_scaling.py [--events 20000] [--chunk 500] [--workers 1,2,4]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

import idex

CHANNELS = ("target_low", "target_high", "ion_grid")


def synthesise(n_events: int, path: Path) -> None:
    """The real events repeated to ``n_events``, low-rate channels only, as a netCDF event file."""
    real = idex.open_raw(idex.testing.sample_capture(), group="events")
    keep = [*CHANNELS, "trigger_time_low", "quality_flags"]
    small = real[keep]
    small = small.drop_vars([c for c in small.coords if c not in ("event", "epoch", "time_low")])
    rows = np.arange(n_events) % real.sizes["event"]
    repeated = small.isel(event=rows).assign_coords(event=np.arange(n_events))
    repeated.idex.to_netcdf(path, compression=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    os.environ["IDEX_NUM_THREADS"] = "1"  # inherited by the worker processes
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.nc"
        synthesise(args.events, path)
        print(
            f"{args.events} events x {len(CHANNELS)} channels in chunks of {args.chunk} "
            f"({-(-args.events // args.chunk)} chunks), {os.cpu_count()} CPUs on this machine"
        )
        reference, rates = None, {}
        for workers in [int(w) for w in args.workers.split(",")]:
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster),
            ):
                ds = xr.open_dataset(path, chunks={"event": args.chunk})
                fits = ds.idex.fit()
                tasks = len(fits.__dask_graph__())
                start = time.perf_counter()
                result = fits.compute()
                seconds = time.perf_counter() - start
            if reference is None:
                reference = result
            else:
                xr.testing.assert_identical(result, reference)
            rates[workers] = args.events / seconds
            first = rates[min(rates)]
            print(
                f"  {workers} worker(s): {seconds:7.2f} s = {rates[workers]:7.0f} events/s "
                f"({rates[workers] / first:.2f}x one worker), {tasks} tasks in the graph"
            )


if __name__ == "__main__":
    main()
