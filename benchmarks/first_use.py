"""First use against a warm run: the README's first decode and the first fit after it, in a fresh copy of idex.

A copy of the package without any compiled kernel (like a fresh clone or installation) runs, in new
processes: ``idex decode`` on the bundled capture, ``idex fit`` on its output, then both again (warm).
With ``--warmup`` it runs ``idex warmup`` first and reports its time separately. The peer in the same run
is the warm run itself (the ratio the issue asks for: first use over warm).

Run: ``python benchmarks/first_use.py [--warmup]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "tests" / "data" / "imap_idex_l0_raw_20231214_v001.pkts"


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and processor seconds of one command (processor time is what a busy machine does not inflate)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-m", "idex.apps.cli", *args], env=env, cwd=cwd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warmup", action="store_true", help="run `idex warmup` before the first command")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copytree(ROOT / "idex", work / "idex", ignore=shutil.ignore_patterns("__pycache__"))
        for data in ("schemas", "defs"):
            shutil.copytree(ROOT / data, work / data)
        (work / "tests" / "data").mkdir(parents=True)  # where a source checkout keeps the sample captures
        for capture in (ROOT / "tests" / "data").glob("*.pkts"):
            shutil.copy(capture, work / "tests" / "data")
        env = {**os.environ, "PYTHONPATH": str(work)}
        env.pop("NUMBA_CACHE_DIR", None)
        if options.warmup:
            wall, cpu = timed(["warmup"], env, work)
            print(f"idex warmup: {wall:.1f} s ({cpu:.1f} s of processor time)")
        runs = []
        for label in ("first", "warm"):
            decode = timed(["decode", str(CAPTURE), "-o", f"{label}.nc"], env, work)
            fit = timed(["fit", f"{label}.nc", "-o", f"{label}_fit.nc"], env, work)
            runs.append((decode, fit))
            print(
                f"{label:5s}: decode {decode[0]:6.1f} s ({decode[1]:5.1f} s cpu), "
                f"fit {fit[0]:6.1f} s ({fit[1]:5.1f} s cpu)"
            )
        (first_decode, first_fit), (warm_decode, warm_fit) = runs
        for kind, index in (("wall", 0), ("cpu", 1)):
            print(
                f"first / warm ({kind}): decode {first_decode[index] / warm_decode[index]:.1f}x, "
                f"fit {first_fit[index] / warm_fit[index]:.1f}x"
            )


if __name__ == "__main__":
    main()
