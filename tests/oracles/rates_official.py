"""Regenerate ``tests/data/rates_official.json``: the pipeline's L2B/L2C on ``tests/synthetic_l2.py``'s inputs.

Needs ``pip install imap-processing==1.0.40`` (MIT; not a dependency of idex) and the test LSK of
``tests/data/spice/`` (the pipeline converts message times with SPICE). For each message scenario it runs
``idex_l2b.idex_l2b`` (published products: by-charge/by-mass withheld as fill) and, to show what it would publish,
``compute_counts_by_charge_and_mass`` on the same events. Run from the repository root:

    /work/oracle-venv/bin/python tests/oracles/rates_official.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import cdflib
import numpy as np
import spiceypy
import xarray as xr

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import synthetic_l2  # noqa: E402
from imap_processing.idex.idex_l2b import compute_counts_by_charge_and_mass, idex_l2b  # noqa: E402


def _tt2000(times: np.ndarray) -> np.ndarray:
    return np.array([cdflib.cdfepoch.parse(str(t)) for t in times.astype("datetime64[ns]")], dtype=np.int64)


def _write_official(product: xr.Dataset) -> None:
    import shutil

    import imap_data_access
    from imap_processing.cdf.utils import write_cdf

    with tempfile.TemporaryDirectory() as tmp:
        imap_data_access.config["DATA_DIR"] = Path(tmp)
        product.attrs["Data_version"] = "001.0001"
        path = write_cdf(product)
        shutil.copy(path, TESTS / "data" / path.name)
        print(f"official: {path.name} ({path.stat().st_size} bytes)")


def main() -> None:
    spiceypy.furnsh(str(TESTS / "data" / "spice" / "test.tls"))
    values = synthetic_l2.events()
    epoch = _tt2000(values.pop("epoch"))
    l2a = xr.Dataset({k: ("epoch", v) for k, v in values.items()}, coords={"epoch": epoch})
    out = {"made_by": "tests/oracles/rates_official.py with imap-processing 1.0.40 (idex_l2b)", "scenarios": {}}
    for scenario in synthetic_l2.SCENARIOS:
        times, states = synthetic_l2.messages(scenario, with_previous=False)
        msg = xr.Dataset({"science_on": ("epoch", states.astype(np.uint8))}, coords={"epoch": _tt2000(times)})
        l2b, l2c = idex_l2b(l2a, msg, synthetic_l2.WINDOW[0].replace("-", ""))
        by_charge, by_mass, _, by_mass_map = compute_counts_by_charge_and_mass(l2a)
        out["scenarios"][scenario] = {
            "counts": l2b["counts"].values.tolist(),
            "rate": l2b["rate"].values.tolist(),
            "rate_calculation_quality_flags": l2b["rate_calculation_quality_flags"].values.tolist(),
            "counts_map_nonzero": [
                [int(i), int(j), int(l2c["counts_map"].values[0, i, j])]
                for i, j in zip(*np.nonzero(l2c["counts_map"].values[0]), strict=True)
            ],
            "rate_map_max": float(np.nanmax(l2c["rate_map"].values)),
            "published_counts_by_charge_fill": bool((l2b["counts_by_charge"].values == np.iinfo(np.int64).min).all()),
            "published_rate_by_mass_nan": bool(np.isnan(l2b["rate_by_mass"].values).all()),
            "internal_counts_by_charge": by_charge[0].tolist(),
            "internal_counts_by_mass": by_mass[0].tolist(),
            "internal_counts_by_mass_map_total": int(by_mass_map.sum()),
            "epoch_delta_plus": int(l2b["epoch_delta_plus"].values[0]),
        }
        if scenario == "first_on":  # the official L2B and L2C files themselves, for the profile and reader tests
            _write_official(l2b)
            _write_official(l2c)
    (TESTS / "data" / "rates_official.json").write_text(json.dumps(out, indent=1) + "\n")
    print({k: v["counts"] for k, v in out["scenarios"].items()})


if __name__ == "__main__":
    main()
