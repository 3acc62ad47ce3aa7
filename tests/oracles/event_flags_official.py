"""Regenerate ``tests/data/event_flags_official.json``: the mission pipeline's ten event flags, as an oracle.

Needs ``pip install imap-processing==1.0.40`` (MIT; not a dependency of idex). For both bundled captures the
whole official L1a is run (its SPICE time conversion replaced by MET x 1e9, which the flags do not use); for
the synthetic events of ``tests/synthetic_events.py`` the pipeline's own ``classify_event_flags``. Run from the
repository root:

    python tests/oracles/event_flags_official.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import imap_processing.spice.time as spice_time  # noqa: E402
import imap_processing.utils as imap_utils  # noqa: E402


def _met_ns(met, *args, **kwargs):
    return (np.asarray(met, dtype=float) * 1e9).astype(np.int64)


spice_time.met_to_ttj2000ns = imap_utils.met_to_ttj2000ns = _met_ns  # before idex_l1a copies the name

import synthetic_events  # noqa: E402
from imap_processing.idex.idex_event_flags import classify_event_flags  # noqa: E402
from imap_processing.idex.idex_l1a import PacketParser  # noqa: E402

FLAGS = (
    "science_event_flag",
    "noise_capture_flag",
    "pulser_flag",
    "dust_hit_flag",
    "tof_high_saturation_flag",
    "tof_mid_saturation_flag",
    "tof_low_saturation_flag",
    "target_high_saturation_flag",
    "target_low_saturation_flag",
    "ion_grid_saturation_flag",
)
CAPTURES = ("imap_idex_l0_raw_20231214_v001.pkts", "imap_idex_l0_raw_20230725_v001.pkts")


def main() -> None:
    out: dict = {"captures": {}, "synthetic": {"seed": 2026, "n": 300}}
    for name in CAPTURES:
        sci = PacketParser(str(TESTS / "data" / name)).data["l1a_sci-10days"]
        out["captures"][name] = {
            "event_number": sci["idx__txhdrevtnum"].values.astype(int).tolist(),
            **{flag: sci[flag].values.astype(int).tolist() for flag in FLAGS},
        }
    rows = []
    for event in synthetic_events.events(out["synthetic"]["seed"], out["synthetic"]["n"]):
        telemetry = {
            "idx__txhdrtrigid": event["trigger_id"],
            "idx__txhdrhgtrigmode": event["tof_high_trigger_mode"],
            "idx__txhdrmgtrigmode": event["tof_mid_trigger_mode"],
            "idx__txhdrlgtrigmode": event["tof_low_trigger_mode"],
            "idx__txhdrhgtrigctrl1": event["tof_high_trigger_level"] << 22,
        }
        flags = classify_event_flags(
            telemetry,
            event["tof_high"],
            event["tof_mid"],
            event["tof_low"],
            event["time_high"],
            event["target_high"],
            event["target_low"],
            event["ion_grid"],
        )
        rows.append([int(flags[flag]) for flag in FLAGS])
    out["synthetic"]["flags"] = {flag: [row[i] for row in rows] for i, flag in enumerate(FLAGS)}
    (TESTS / "data" / "event_flags_official.json").write_text(json.dumps(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
