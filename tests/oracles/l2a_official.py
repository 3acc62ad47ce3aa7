"""Regenerate ``tests/data/imap_idex_l2a_sci-10days_20231214_v001.cdf``: the mission pipeline's L2A, as an oracle.

Needs ``pip install imap-processing==1.0.40`` (MIT; not a dependency of idex). Runs the pipeline's ``idex_l2a`` on
the bundled official L1b of 2023-12-14 with the calibration curves of its published unit tests (the parameter
sets of ``defs/velocity_calibration.yaml``, written to the two ancillary CSV files the pipeline reads) and writes
the product with the pipeline's own CDF writer. The TOF mass-spectrum variables, which this version of the
pipeline fills with NaN, are dropped to keep the file small. Run from the repository root:

    /work/oracle-venv/bin/python tests/oracles/l2a_official.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml
from imap_processing.cdf.utils import load_cdf, write_cdf
from imap_processing.idex.idex_l2a import idex_l2a

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
L1B = DATA / "imap_idex_l1b_sci-10days_20231214_v001.0001.cdf"
OUT = DATA / "imap_idex_l2a_sci-10days_20231214_v001.cdf"
DROPPED = ("tof_peak", "mass", "tof_snr")
CURVE = ("log_a", "a1", "a2", "a3", "vb", "vc", "k")


def _ancillary(directory: Path) -> dict[str, Path]:
    """The two calibration-curve CSV files (a header row, then log_a, a1, a2, a3, vb, vc, k, m)."""
    curves = yaml.safe_load((ROOT / "defs" / "velocity_calibration.yaml").read_text(encoding="utf-8"))
    files = {}
    for key, entry in (("l2a-calibration-curve-t-rise", "rise_time"), ("l2a-calibration-curve-yield-params", "yield")):
        path = directory / f"{key}.csv"
        values = [curves[entry][name] for name in CURVE] + [0.0]
        path.write_text("A,a1,a2,a3,vb,vc,k,m\n" + ",".join(repr(float(v)) for v in values) + "\n", encoding="utf-8")
        files[key] = path
    return files


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        l2a = idex_l2a(load_cdf(L1B), _ancillary(Path(tmp)))
        l2a = l2a.drop_vars([name for name in l2a.variables if str(name).startswith(DROPPED)])
        l2a.attrs["Data_version"] = "v001"
        written = write_cdf(l2a)
        shutil.copyfile(written, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
