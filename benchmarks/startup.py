"""Start-up as a user feels it: whole processes, best of several runs, in one run with their peers.

Times ``import xarray`` against ``import idex`` (and ``import idex, xarray``: what the ``ds.idex`` accessor
costs), ``idex --help`` and ``idex decode --help``, and ``idex decode`` of the bundled 2023-12-14 capture
to netCDF against the mission pipeline's L1a on the same file (``imap_processing.idex.idex_l1a.PacketParser``,
its SPICE time conversion replaced by MET x 1e9 as in ``tests/oracles/``; it only decodes, its dataset cannot be
written to netCDF as it is, so idex's figure includes a write the reference does not do). The mission pipeline
pins its own dependency versions, so it usually lives in its own environment: pass its interpreter with
``--reference-python``; without it, the official approach (space_packet_parser and the mission XTCE, see
``benchmarks/decode.py``) is timed in this environment instead, when space_packet_parser is installed.

dask is an extra (``idex[dask]``): xarray imports ``dask.array`` in every process where dask is installed, so
``idex decode`` is also timed without it, in the same run: with ``--lean-python``, the interpreter of an
environment holding the core dependencies only (idex itself from this checkout, by ``PYTHONPATH``); without it,
in this environment with dask hidden from the import system (``sys.modules["dask"] = None``: ``find_spec``
answers "not installed", as xarray asks).

The three decode processes (idex, idex without dask, the reference) run in alternation, one of each per round,
best of ``--runs`` rounds: on a shared machine whose load changes while the benchmark runs, a round slows all three
alike, where timing each one's runs in a block would compare one load phase with another.

Last, both decoders warm (in process, after a first call, best of 10): ``idex.open_raw`` against ``PacketParser``.

Run: ``python benchmarks/startup.py [--runs 5] [--reference-python /path/to/imap/venv/bin/python]
[--lean-python /path/to/core-only/venv/bin/python]``
The numba kernels are compiled once before timing (``idex decode`` of the capture), as after installation.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import idex

HERE = Path(__file__).resolve().parent
CAPTURE = idex.testing.sample_capture("2023_12")

_MISSION_L1A = """
import numpy as np
import imap_processing.spice.time as spice_time, imap_processing.utils as imap_utils
met = lambda value, *a, **k: (np.asarray(value, dtype=float) * 1e9).astype(np.int64)
spice_time.met_to_ttj2000ns = imap_utils.met_to_ttj2000ns = met
from imap_processing.idex.idex_l1a import PacketParser
PacketParser({path!r}).data["l1a_sci-10days"].load()
"""

_CLI = """
import sys{hide}
from idex.apps.cli import main
sys.argv = ["idex", *sys.argv[1:]]
main()
"""
_HIDE_DASK = """
sys.modules["dask"] = sys.modules["distributed"] = None  # find_spec answers None: dask reads as not installed"""

WARM_REPEATS = 10
"""Calls timed in process after the first, for both decoders; the least time counts."""
WARM_PROCESSES = 3
"""Processes of idex's warm run: its time varies by up to half from one process to the next (seen 15-24 ms on
the bundled capture: where the large arrays land in memory), so the best and the slowest are both printed."""

_WARM = """
import time{setup}
{call}
times = []
for _ in range({repeats}):
    start = time.perf_counter()
    {call}
    times.append(time.perf_counter() - start)
print(min(times))
"""
_MISSION_WARM_SETUP = """
import numpy as np
import imap_processing.spice.time as spice_time, imap_processing.utils as imap_utils
met = lambda value, *a, **k: (np.asarray(value, dtype=float) * 1e9).astype(np.int64)
spice_time.met_to_ttj2000ns = imap_utils.met_to_ttj2000ns = met
from imap_processing.idex.idex_l1a import PacketParser"""

_OFFICIAL_APPROACH = """
import sys, xarray
sys.path.insert(0, {here!r})
from decode import reference_decode
print(reference_decode(open({path!r}, "rb").read()))
"""


def best_of(command: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Least wall-clock time of ``runs`` runs of a whole process (s)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(commands: dict[str, tuple[list[str], dict[str, str] | None]], runs: int) -> dict[str, float]:
    """Least wall-clock time (s) of each whole-process command over ``runs`` rounds, one run of each per round:
    a machine whose load changes during the benchmark slows every command of a round alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, env) in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reference-python", help="interpreter of an environment with imap-processing")
    parser.add_argument("--lean-python", help="interpreter of an environment with idex's core dependencies only")
    args = parser.parse_args()
    python = sys.executable
    cli = shutil.which("idex") or str(Path(python).with_name("idex"))
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "events.nc")
        subprocess.run([cli, "decode", str(CAPTURE), "-o", out, "--overwrite"], check=True, capture_output=True)
        rows = {
            "import xarray": best_of([python, "-c", "import xarray"], args.runs),
            "import idex": best_of([python, "-c", "import idex"], args.runs),
            "import idex, xarray": best_of([python, "-c", "import idex, xarray"], args.runs),
            "idex --help": best_of([cli, "--help"], args.runs),
            "idex decode --help": best_of([cli, "decode", "--help"], args.runs),
        }
        decode_args = ["decode", str(CAPTURE), "-o", out, "--overwrite"]
        dask_here = importlib.util.find_spec("dask") is not None
        if args.lean_python:
            lean_name = "idex decode, core-only environment (--lean-python)"
            lean = [args.lean_python, "-c", _CLI.format(hide=""), *decode_args]
            environment = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
            }
        else:
            lean_name = "idex decode, dask hidden in this environment"
            lean, environment = [python, "-c", _CLI.format(hide=_HIDE_DASK), *decode_args], None
        subprocess.run(lean, check=True, capture_output=True, env=environment)
        decisive: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "idex decode capture -o events.nc": ([cli, *decode_args], None),
            lean_name: (lean, environment),
        }
        ours = _WARM.format(repeats=WARM_REPEATS, setup="\nimport idex", call=f"idex.open_raw({str(CAPTURE)!r})")
        warm_runs = sorted(
            float(subprocess.run([python, "-c", ours], check=True, capture_output=True, text=True).stdout)
            for _ in range(WARM_PROCESSES)
        )
        warm = warm_runs[0]
        reference_name, reference, reference_warm = None, None, None
        if args.reference_python:
            reference_warm = float(
                subprocess.run(
                    [
                        args.reference_python,
                        "-c",
                        _WARM.format(
                            repeats=WARM_REPEATS,
                            setup=_MISSION_WARM_SETUP,
                            call=(f"PacketParser({str(CAPTURE)!r}).data['l1a_sci-10days'].load()"),
                        ),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            reference_name = "mission pipeline L1a (imap-processing), decode only, nothing written"
            decisive[reference_name] = ([args.reference_python, "-c", _MISSION_L1A.format(path=str(CAPTURE))], None)
        else:
            try:
                import space_packet_parser  # noqa: F401
            except ImportError:
                pass
            else:
                reference_name = "official approach (space_packet_parser + bit strings, xarray imported)"
                code = _OFFICIAL_APPROACH.format(here=str(HERE), path=str(CAPTURE))
                decisive[reference_name] = ([python, "-c", code], None)
        timed = interleaved(decisive, args.runs)  # idex and the reference in alternation, as the load varies
        rows.update({name: timed[name] for name in list(decisive)[:2]})
        reference = timed.get(reference_name) if reference_name else None
    width = max(len(name) for name in rows) + 2
    print(
        f"whole processes, best of {args.runs}, bundled capture {CAPTURE.name} ({CAPTURE.stat().st_size} bytes); "
        f"dask {'installed' if dask_here else 'not installed'} in this environment"
    )
    for name, seconds in rows.items():
        print(f"  {name:<{width}} {seconds:6.3f} s")
    print(
        f"  import idex / import xarray: {rows['import idex'] / rows['import xarray']:.2f}x; "
        f"import idex, xarray / import xarray: {rows['import idex, xarray'] / rows['import xarray']:.2f}x"
    )
    if reference is None:
        print("  reference: none (pass --reference-python, or pip install -e '.[bench]')")
        return
    decode = rows["idex decode capture -o events.nc"]
    print(f"  {reference_name}: {reference:.3f} s")
    print(
        f"  ratio reference / idex decode (whole process): {reference / decode:.1f}x; without dask "
        f"({lean_name.split(', ')[1]}): {reference / rows[lean_name]:.1f}x"
    )
    print(
        f"  warm, in process, best of {WARM_REPEATS} calls: idex.open_raw {warm * 1e3:.1f} ms (slowest of "
        f"{WARM_PROCESSES} processes {warm_runs[-1] * 1e3:.1f} ms)",
        end="",
    )
    if reference_warm is not None:
        print(
            f"; mission pipeline L1a {reference_warm * 1e3:.0f} ms = {reference_warm / warm:.0f}x "
            f"({reference_warm / warm_runs[-1]:.0f}x against the slowest)",
            end="",
        )
    print()


if __name__ == "__main__":
    main()
