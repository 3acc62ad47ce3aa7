"""Pointing per event: idex (``ds.idex.pointing``) against the mission pipeline's L1B geometry on the same kernels.

Input: ``--events`` (default 20 000) times spread over the covered span of the test kernels (``tests/data/spice/``:
LSK, SCLK, FK, SPK type 13, CK type 3 of a spinning IMAP, two spin tables). The pipeline side runs, in
``/work/oracle-venv`` (imap-processing 1.0.40), what ``idex_l1b.get_spice_data`` runs on all events at once
(``ttj2000ns_to_et``, ``et_to_met``, ``get_instrument_spin_phase``, ``imap_state``, ``instrument_pointing``,
``cartesian_to_spherical``, ``solar_longitude``), on events the kernels cover (the pipeline fails otherwise). Both
times include the conversions from event times; the largest differences are printed.

Run: ``python benchmarks/pointing.py [--events 20000] [--oracle /work/oracle-venv/bin/python]``
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

SPICE = Path(__file__).resolve().parents[1] / "tests" / "data" / "spice"
KERNELS = [SPICE / n for n in ("test.tls", "imap_test.tsc", "imap_test.tf", "imap_test.bsp", "imap_test_spin.bc")]
TABLES = sorted(SPICE.glob("*.spin.csv"))
START = np.datetime64("2025-06-15T00:00:00", "ns")


def event_times(n: int) -> np.ndarray:
    """``n`` UTC times over the first 590 s of the kernels (before the CK gap), whole µs."""
    rng = np.random.default_rng(20)
    return START + (np.sort(rng.integers(0, 590_000_000, n)) * 1000).astype("timedelta64[ns]")


def run_pipeline(path: Path) -> None:
    """In the oracle venv: the pipeline's geometry on the TT2000 times in ``path``; prints JSON."""
    import spiceypy
    from imap_processing.spice import config
    from imap_processing.spice.geometry import (
        SpiceBody,
        SpiceFrame,
        cartesian_to_spherical,
        imap_state,
        instrument_pointing,
        solar_longitude,
    )
    from imap_processing.spice.spin import get_instrument_spin_phase, get_spin_angle
    from imap_processing.spice.time import et_to_met, ttj2000ns_to_et

    tt2000 = np.load(path)
    for kernel in KERNELS:
        spiceypy.furnsh(str(kernel))
    config._spin_table_paths = TABLES
    begin = time.perf_counter()
    et = ttj2000ns_to_et(tt2000)
    met = et_to_met(et)
    phase = get_instrument_spin_phase(met, SpiceFrame.IMAP_IDEX)
    angle = get_spin_angle(np.where(np.isnan(phase), 0.0, phase), degrees=True)
    state = imap_state(et, observer=SpiceBody.SUN)
    lon_lat = cartesian_to_spherical(
        instrument_pointing(et, SpiceFrame.IMAP_IDEX, SpiceFrame.ECLIPJ2000, cartesian=True)
    )[:, 1:]
    solar = solar_longitude(et, degrees=True)
    seconds = time.perf_counter() - begin
    np.savez(
        path.with_suffix(".out.npz"),
        state=state,
        lon_lat=lon_lat,
        solar=solar,
        phase=np.where(np.isnan(phase), np.nan, angle),
    )
    print(json.dumps({"seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--oracle", default="/work/oracle-venv/bin/python")
    parser.add_argument("--pipeline-on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_on:
        run_pipeline(Path(args.pipeline_on))
        return
    import xarray as xr

    from idex.science.pointing import pointing, utc_to_tt2000

    epoch = event_times(args.events)
    ds = xr.Dataset(coords={"epoch": ("event", epoch)})
    begin = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pointing(ds, KERNELS, TABLES)
    seconds = time.perf_counter() - begin
    print(f"idex:     {args.events} events in {seconds:.2f} s -> {args.events / seconds:,.0f} events/s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tt2000.npy"
        np.save(path, utc_to_tt2000(epoch))
        result = subprocess.run(
            [args.oracle, __file__, "--pipeline-on", str(path)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            print(f"pipeline: not run ({result.stderr.strip().splitlines()[-1] if result.stderr else 'failed'})")
            return
        p_seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
        ref = np.load(path.with_suffix(".out.npz"))
    print(f"pipeline: {args.events} events in {p_seconds:.2f} s -> {args.events / p_seconds:,.0f} events/s")
    print(f"ratio idex/pipeline speed: {p_seconds / seconds:.2f}x")
    position = np.stack([out[f"ephemeris_position_{a}"].values for a in "xyz"], axis=1)
    phase = (out["spin_phase"].values - ref["phase"] + 180.0) % 360.0 - 180.0
    print(
        f"largest differences: position {np.abs(position - ref['state'][:, :3]).max():.2e} km, "
        f"longitude {np.abs(out['longitude'].values - ref['lon_lat'][:, 0]).max():.2e} deg, "
        f"latitude {np.abs(out['latitude'].values - ref['lon_lat'][:, 1]).max():.2e} deg, "
        f"spin phase {np.nanmax(np.abs(phase)):.2e} deg (NaN in idex only where thrusters fire: "
        f"{int(np.count_nonzero(np.isnan(out['spin_phase'].values) & ~np.isnan(ref['phase'])))} events)"
    )


if __name__ == "__main__":
    sys.exit(main())
