"""Export speed: idex's writers against the plain library calls on the same variables, in one run.

Input: the 14 real events of the 2023-12-14 capture repeated to ``--events`` (default 2 002), decoded and
fitted (the model a user exports). For each format the idex writer (validation, ISTP attributes, atomic
rename) is timed against the bare library call a user would make on the same prepared variables:
``cdflib.xarray_to_cdf`` (no ISTP checks; uncompressed, and at idex's default level) for CDF and the official
profile, and
``Dataset.to_netcdf`` (no compression) for netCDF/HDF5. Throughput is model data (``ds.nbytes``) per second;
file sizes are printed too. Compression levels: idex's defaults, and ``--level`` for the slower, smaller
files.

Run: ``python benchmarks/export.py [--events 2002] [--level 6]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import idex
from idex.io.cdf import DEFAULT_COMPRESSION, cdf_dataset
from idex.io.official import official_dataset
from idex.model.dataset import stored_form


def best_of(action, runs: int = 3) -> float:
    """Least wall-clock time of ``runs`` calls (s)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2002)
    parser.add_argument("--level", type=int, default=6, help="a higher compression level, timed as well")
    args = parser.parse_args()
    from cdflib.xarray import xarray_to_cdf

    real = idex.open_raw(idex.testing.sample_capture(), group="events")
    rows = np.arange(args.events) % real.sizes["event"]
    copy = np.arange(args.events) // real.sizes["event"]
    ds = real.isel(event=rows).assign_coords(event=np.arange(args.events))
    ds = ds.assign_coords(
        epoch=("event", ds["epoch"].values + copy * np.timedelta64(1, "D"), ds["epoch"].attrs)
    )  # each copy a day later: CDF epochs must increase
    ds = ds.idex.fit(merge=True)
    megabytes = stored_form(ds).nbytes / 1e6
    print(f"{args.events} events, fitted: {megabytes:.0f} MB of model data")
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Path(folder)

        def plain_cdf(prepared: xr.Dataset, name: str, level: int = 0) -> None:
            (out / name).unlink(missing_ok=True)
            xarray_to_cdf(prepared, str(out / name), istp=False, record_dimensions=["epoch"], compression=level)

        rows_out = []
        prepared = cdf_dataset(stored_form(ds))
        rows_out.append(
            (
                "CDF (idex profile)",
                best_of(lambda: ds.to_cdf(out / "a.cdf", overwrite=True)),
                best_of(lambda: plain_cdf(prepared, "plain.cdf")),
                out / "a.cdf",
                out / "plain.cdf",
            )
        )
        official = official_dataset(ds)
        rows_out.append(
            (
                "CDF (official profile)",
                best_of(lambda: ds.to_cdf(out / "b.cdf", overwrite=True, profile="official")),
                best_of(lambda: plain_cdf(official, "plain_official.cdf")),
                out / "b.cdf",
                out / "plain_official.cdf",
            )
        )
        stored = stored_form(ds)
        rows_out.append(
            (
                "netCDF-4",
                best_of(lambda: ds.idex.to_netcdf(out / "c.nc", overwrite=True)),
                best_of(lambda: stored.to_netcdf(out / "plain.nc", engine="netcdf4")),
                out / "c.nc",
                out / "plain.nc",
            )
        )
        rows_out.append(
            (
                f"CDF (idex profile), compression {args.level}",
                best_of(lambda: ds.to_cdf(out / "d.cdf", overwrite=True, compression=args.level)),
                None,
                out / "d.cdf",
                None,
            )
        )
        rows_out.append(
            (
                f"netCDF-4, zlib level {args.level}",
                best_of(lambda: ds.idex.to_netcdf(out / "e.nc", overwrite=True, compression=args.level)),
                None,
                out / "e.nc",
                None,
            )
        )
        same_level = {
            "CDF (idex profile)": best_of(lambda: plain_cdf(prepared, "plain1.cdf", DEFAULT_COMPRESSION)),
            "CDF (official profile)": best_of(lambda: plain_cdf(official, "plain1o.cdf", DEFAULT_COMPRESSION)),
        }
        for name, ours, plain, file, plain_file in rows_out:
            size = file.stat().st_size / 1e6
            line = f"  {name:<36} idex {ours:6.2f} s = {megabytes / ours:6.0f} MB/s, {size:6.1f} MB"
            if plain is not None:
                line += (
                    f" | plain library {plain:6.2f} s, {plain_file.stat().st_size / 1e6:6.1f} MB"
                    f" | idex / plain time {ours / plain:.2f}x"
                )
            if name in same_level:
                line += f" ({ours / same_level[name]:.2f}x plain cdflib at the same compression level)"
            print(line)


if __name__ == "__main__":
    main()
