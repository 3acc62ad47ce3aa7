"""Synthetic inputs of one IDEX 10-day window for the L2B/L2C parity tests (numpy only, deterministic).

Shared by ``tests/oracles/rates_official.py`` (which runs the mission pipeline's ``idex_l2b`` on them) and
``tests/science/test_rates.py`` (which runs idex on the same values).
"""

from __future__ import annotations

import numpy as np

WINDOW = ("2025-06-09", "2025-06-19")  # a window of the mission's schedule (start date 20250609)
N_EVENTS = 300
DUPLICATED = (5, 50, 120, 250)  # events sent twice (retransmitted)
NAN_PHASE = (7, 8, 9, 60, 61, 200)  # invalid spin: NaN phase
NAN_DIRECTION = (11, 12, 13, 14)  # no attitude: NaN longitude/latitude
DAY = np.timedelta64(86_400_000_000_000, "ns")

# scenario -> (messages in the window as (days after the start, state)), the message before the window if any)
SCENARIOS = {
    "first_on": ([(0.5, 1), (3.0, 0), (3.2, 1), (9.5, 0)], None),
    "first_off": ([(1.0, 0), (2.0, 1), (9.0, 0)], (-1.0, 0)),
}


def events() -> dict[str, np.ndarray]:
    """Per-event arrays (UTC ``epoch`` as datetime64[ns]) with the retransmitted events appended at the end."""
    rng = np.random.default_rng(2843)
    start = np.datetime64(WINDOW[0], "ns")
    offsets = np.sort(rng.integers(0, 10 * 86_400_000_000_000 - 1, N_EVENTS))
    out = {
        "epoch": start + offsets.astype("timedelta64[ns]"),
        "dust_hit_flag": (rng.random(N_EVENTS) < 0.9).astype(np.int64),
        "spin_phase": rng.uniform(0.0, 360.0, N_EVENTS),
        "longitude": rng.uniform(0.0, 360.0, N_EVENTS),
        "latitude": np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, N_EVENTS))),
        "target_low_impact_charge": 10 ** rng.uniform(-1.5, 4.5, N_EVENTS),  # pC, beyond both outer edges
        "target_low_dust_mass_estimate": 10 ** rng.uniform(-17.5, -13.5, N_EVENTS),  # kg, beyond both outer edges
    }
    out["spin_phase"][list(NAN_PHASE)] = np.nan
    out["longitude"][list(NAN_DIRECTION)] = np.nan
    out["latitude"][list(NAN_DIRECTION)] = np.nan
    out["dust_hit_flag"][list(DUPLICATED) + list(NAN_PHASE) + list(NAN_DIRECTION)] = 1
    return {k: np.concatenate([v, v[list(DUPLICATED)]]) for k, v in out.items()}


def messages(scenario: str, *, with_previous: bool) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition message times (UTC datetime64[ns]) and states (1 on, 0 off) of a scenario."""
    inside, previous = SCENARIOS[scenario]
    rows = ([previous] if with_previous and previous is not None else []) + inside
    start = np.datetime64(WINDOW[0], "ns")
    times = np.array([start + np.timedelta64(int(round(d * 86_400e9)), "ns") for d, _ in rows])
    return times, np.array([s for _, s in rows], dtype=np.int64)
