"""CDF of events held lazily: idex's ceiling against the bare cdflib call building them, in one run.

Input: a capture of event headers only (``benchmarks/decode.py``'s synthesis: copies of the real 2023-12-14
capture without their waveform packets, ``--size-mb``), so every waveform row is filled lazily
(:mod:`idex.model.waveform_rows`). Each writer runs in a fresh process on the decoded events; time and peak
memory above the process's baseline (after imports and a warm-up write) are printed:

- ``idex to_cdf``: refused by the CDF ceiling (:mod:`idex.io.cdf_memory`) before anything is built;
- ``idex to_netcdf``: the rows written in blocks (what the refusal suggests);
- ``cdflib.xarray_to_cdf`` on the same variables (``cdf_dataset``; ``istp=False``, since the synthetic copies
  share their trigger times): what writing them as a CDF costs.

Run: ``python benchmarks/cdf_ceiling.py [--size-mb 4]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from decode import synthesise

_WRITE = """
import json, resource, sys, time, warnings
import idex
from cdflib.xarray import xarray_to_cdf
from idex.exceptions import ExportError
from idex.io.cdf import cdf_dataset
from idex.model.dataset import stored_form
warnings.simplefilter("ignore")
path, out, writer = sys.argv[1], sys.argv[2], sys.argv[3]
idex.open_raw(idex.testing.sample_capture(), group="events").idex.to_cdf(out + ".warm.cdf")
ds = idex.open_raw(path, group="events")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
outcome = "written"
try:
    if writer == "to_cdf":
        ds.idex.to_cdf(out + ".cdf")
    elif writer == "to_netcdf":
        ds.idex.to_netcdf(out + ".nc")
    else:
        xarray_to_cdf(cdf_dataset(stored_form(ds)), out + ".bare.cdf", istp=False, record_dimensions=["epoch"])
except ExportError as error:
    outcome = "refused: " + str(error)[:90] + "..."
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_mb": (peak - before) * 1024 / 1e6, "events": ds.sizes["event"],
                  "outcome": outcome}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=4.0, help="size of the header-only capture")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "headers.pkts"
        synthesise(args.size_mb, path, headers_only=True)
        size = path.stat().st_size
        runs = {}
        for writer in ("to_cdf", "to_netcdf", "cdflib"):
            command = [sys.executable, "-c", _WRITE, str(path), str(Path(folder) / writer), writer]
            runs[writer] = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(f"capture of event headers only: {size / 1e6:.1f} MB, {runs['to_cdf']['events']} events")
        for writer, run in runs.items():
            print(
                f"{writer:>9}: {run['seconds']:6.2f} s, peak above baseline {run['peak_mb']:7.1f} MB "
                f"= {run['peak_mb'] * 1e6 / size:6.1f}x the capture; {run['outcome']}"
            )
        bare, ours = runs["cdflib"], runs["to_netcdf"]
        print(
            f"ratio cdflib CDF / idex netCDF of the same events: {bare['seconds'] / ours['seconds']:.1f}x the time, "
            f"{bare['peak_mb'] / max(ours['peak_mb'], 0.1):.1f}x the peak memory"
        )


if __name__ == "__main__":
    main()
