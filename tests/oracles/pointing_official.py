"""Regenerate ``tests/data/spice/`` and ``tests/data/pointing_official.json``: the mission pipeline's L1B pointing.

Needs ``pip install imap-processing==1.0.40`` (MIT; not a dependency of idex). Writes the test kernels and spin
tables of ``tests/spice_kernels.py``, then, for every test event, runs the pipeline's own geometry
(``imap_processing.spice``: ``ttj2000ns_to_et``, ``et_to_met``, ``imap_state``, ``instrument_pointing`` +
``cartesian_to_spherical`` as ``idex_l1b.get_spice_data`` does, ``solar_longitude``, ``get_instrument_spin_phase``)
one event at a time, so that an event the kernels or the spin table do not cover gives ``null`` for what it
lacks (the pipeline itself fails for the whole file there). Run from the repository root:

    /work/oracle-venv/bin/python tests/oracles/pointing_official.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cdflib
import numpy as np
import spiceypy

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import spice_kernels  # noqa: E402
from imap_processing.spice import config as spice_config  # noqa: E402
from imap_processing.spice.geometry import (  # noqa: E402
    SpiceBody,
    SpiceFrame,
    cartesian_to_spherical,
    imap_state,
    instrument_pointing,
    solar_longitude,
)
from imap_processing.spice.spin import get_instrument_spin_phase, get_spin_angle  # noqa: E402
from imap_processing.spice.time import et_to_met, ttj2000ns_to_et  # noqa: E402


def _or_none(function, *args):
    try:
        return function(*[np.array([a]) for a in args])
    except (spiceypy.utils.exceptions.SpiceyError, ValueError):
        return None


def main() -> None:
    directory = TESTS / "data" / "spice"
    paths = spice_kernels.write_kernels(directory)
    spiceypy.kclear()
    for kind in ("lsk", "sclk", "fk", "spk", "ck"):
        spiceypy.furnsh(str(paths[kind]))
    spice_config._spin_table_paths = [paths["spin_a"], paths["spin_b"]]
    events = []
    for utc in spice_kernels.event_times():
        day, clock = utc.split("T")
        hms, frac = (clock.split(".") + ["0"])[:2]
        parts = [int(v) for v in day.split("-")] + [int(v) for v in hms.split(":")]
        micro = int(frac.ljust(6, "0")[:6])
        tt2000 = int(cdflib.cdfepoch.compute_tt2000(parts + [micro // 1000, micro % 1000, 0]))
        et = float(ttj2000ns_to_et(np.array([tt2000]))[0])
        met = float(et_to_met(np.array([et]))[0])
        state = _or_none(lambda t: imap_state(t, observer=SpiceBody.SUN)[0], et)
        pointing = _or_none(
            lambda t: instrument_pointing(t, SpiceFrame.IMAP_IDEX, SpiceFrame.ECLIPJ2000, cartesian=True), et
        )
        phase = _or_none(lambda m: get_instrument_spin_phase(m, SpiceFrame.IMAP_IDEX), met)
        lon_lat = None if pointing is None else cartesian_to_spherical(np.atleast_2d(pointing))[0, 1:]
        solar = None if state is None else float(solar_longitude(np.array([et]), degrees=True))
        angle = None if phase is None or np.isnan(phase[0]) else float(get_spin_angle(phase, degrees=True)[0])
        events.append(
            {
                "utc": utc,
                "tt2000": tt2000,
                "et": et,
                "met": met,
                "state": None if state is None else [float(v) for v in state],
                "longitude": None if lon_lat is None else float(lon_lat[0]),
                "latitude": None if lon_lat is None else float(lon_lat[1]),
                "solar_longitude": solar,
                "spin_phase": angle,
                "spin_phase_nan": phase is not None and bool(np.isnan(phase[0])),
            }
        )
    out = {
        "made_by": "tests/oracles/pointing_official.py with imap-processing 1.0.40 (imap_processing.spice)",
        "kernels": {kind: path.name for kind, path in paths.items()},
        "events": events,
    }
    (TESTS / "data" / "pointing_official.json").write_text(json.dumps(out, indent=1) + "\n")
    covered = sum(all(e[k] is not None for k in ("spin_phase", "longitude", "state")) for e in events)
    print(f"{len(events)} events; covered fully: {covered}")


if __name__ == "__main__":
    main()
