"""The idex command line (decode and schema commands)."""

from __future__ import annotations

import subprocess
import sys

import xarray as xr
from click.testing import CliRunner
from conftest import CAPTURE_2023_12

from idex.apps.cli import main
from idex.model.dataset import stored_form


def test_decode_writes_netcdf_identical_to_open_raw(tmp_path, events_2023_12):
    out = tmp_path / "events.nc"
    result = CliRunner().invoke(main, ["decode", str(CAPTURE_2023_12), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "14 events (0 flagged, 0 problems) with schema science_2023_12" in result.output
    with xr.open_dataset(out) as written:
        xr.testing.assert_identical(written.load(), stored_form(events_2023_12))


def test_decode_all_groups(tmp_path):
    out = tmp_path / "tree.nc"
    assert CliRunner().invoke(main, ["decode", str(CAPTURE_2023_12), "-o", str(out), "--all-groups"]).exit_code == 0
    with xr.open_datatree(out) as tree:
        assert {"events", "packets", "apid_1376"} <= set(tree.children)


def test_decode_reports_problems_without_traceback(tmp_path):
    broken = tmp_path / "broken.pkts"
    broken.write_bytes(CAPTURE_2023_12.read_bytes()[:-100])
    result = CliRunner().invoke(main, ["-v", "decode", str(broken), "-o", str(tmp_path / "b.nc")])
    assert result.exit_code == 0
    assert "warning: broken.pkts: byte offset" in result.output
    strict = CliRunner().invoke(main, ["decode", str(broken), "--strict"])
    assert strict.exit_code == 1 and "Error: broken.pkts: byte offset" in strict.output
    assert "Traceback" not in strict.output


def test_missing_file_is_a_one_line_error():
    result = CliRunner().invoke(main, ["decode", "does-not-exist.pkts"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no such capture file: does-not-exist.pkts"


def test_schema_commands(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["schema", "show"])
    assert "science_2023_07: valid 2023-01-01" in shown.output
    detail = runner.invoke(main, ["schema", "show", "science_2023_12"])
    assert "tof_high: type 2, 8189 x 10-bit samples at 260.0 MHz" in detail.output
    assert runner.invoke(main, ["schema", "validate", "science_2023_12"]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: idex-packets/1\nname: Bad Name\n", encoding="utf-8")
    result = runner.invoke(main, ["schema", "validate", str(bad)])
    assert result.exit_code == 1 and "line 2, name" in result.output


def test_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "idex.apps.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "idex decode capture.pkts" in result.stdout
