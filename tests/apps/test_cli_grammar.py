"""One command-line grammar: patterns, nothing dropped without a word, --overwrite, parse errors naming the flag."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import CAPTURE_2023_12, L1A_2023_12

from idex.apps.cli import main


@pytest.fixture
def two_copies(tmp_path):
    """One capture twice (top level and a sub-folder), the way a campaign's archive holds a re-delivered file."""
    (tmp_path / "in" / "again").mkdir(parents=True)
    shutil.copy(CAPTURE_2023_12, tmp_path / "in" / "a.pkts")
    shutil.copy(CAPTURE_2023_12, tmp_path / "in" / "again" / "b.pkts")
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_table_says_how_many_duplicates_it_dropped_and_keeps_them_on_request(two_copies):
    out = two_copies / "t.csv"
    result = run("table", str(two_copies / "in" / "**" / "*.pkts"), "-o", str(out))  # quoted: recursive, top level too
    assert result.exit_code == 0, result.output
    assert "14 events from 2 files" in result.output and "14 duplicates dropped" in result.output
    assert "--keep-duplicates" in result.output and len(pd.read_csv(out)) == 14
    result = run("table", str(two_copies / "in"), "-o", str(out), "--keep-duplicates")
    assert result.exit_code == 1 and "exists; pass --overwrite" in result.output  # refused before any work
    result = run("table", str(two_copies / "in"), "-o", str(out), "--keep-duplicates", "--overwrite")
    assert result.exit_code == 0 and "28 events from 2 files" in result.output and len(pd.read_csv(out)) == 28


def test_a_pattern_matching_nothing_is_named(tmp_path):
    result = run("table", str(tmp_path / "*.nc"), "-o", str(tmp_path / "t.csv"))
    assert result.exit_code == 2 and "no file matches" in result.output and "*.nc" in result.output


def test_snr_counts_what_it_leaves_out_and_refuses_to_overwrite(tmp_path):
    result = run("snr", str(L1A_2023_12), str(CAPTURE_2023_12), "-o", str(tmp_path), "--no-fit")
    assert result.exit_code == 0, result.output
    assert "10 events from 2 files" in result.output
    assert "8 events that are not dust hits left out (--all-events" in result.output  # 4 in each file
    assert "10 duplicates dropped" in result.output  # the L1a product and its capture hold the same impacts
    result = run("snr", str(L1A_2023_12), "-o", str(tmp_path), "--no-fit")
    assert result.exit_code == 1 and "pass --overwrite" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "flag", "form"),
    [
        (["quicklook", str(CAPTURE_2023_12), "--events", "a,b"], "--events", "3,7,12"),
        (["maps", "--synthetic", "10", "--bins", "36by18"], "--bins", "NxM"),
        (["maps", "--synthetic", "10", "--bins", "0x18"], "--bins", "positive"),
    ],
)
def test_parse_errors_name_the_flag_and_the_expected_form(args, flag, form):
    result = run(*args)
    assert result.exit_code == 2 and flag in result.output and form in result.output
    assert "invalid literal" not in result.output


def test_maps_refuses_to_overwrite(tmp_path):
    target = tmp_path / "map.png"
    target.write_bytes(b"previous")
    result = run("maps", "--synthetic", "10", "-o", str(target))
    assert result.exit_code == 1 and "--overwrite" in result.output and target.read_bytes() == b"previous"


def test_calibrate_refuses_report_with_tof(tmp_path):
    result = run(
        "calibrate", "--tof", str(CAPTURE_2023_12), "-o", str(tmp_path / "t.yaml"), "--report", str(tmp_path / "r")
    )
    assert result.exit_code == 2 and "--report" in result.output and "--tof" in result.output


def test_decode_hints_at_verbose_when_problems_are_hidden(tmp_path):
    damaged = tmp_path / "cut.pkts"
    damaged.write_bytes(CAPTURE_2023_12.read_bytes()[:-500])
    result = run("decode", str(damaged), "-o", str(tmp_path / "cut.nc"))
    assert result.exit_code == 0, result.output
    assert "problems; idex -v decode ... lists them" in result.output


def test_a_tof_calibration_given_as_velocity_calibration_is_named(tmp_path):
    from idex.exceptions import ProductError
    from idex.science.velocity import load_calibration

    wrong = tmp_path / "tof_calibration.yaml"
    wrong.write_text("mass: {stretch_us_per_sqrt_u: [1.4, 1.5]}\n", encoding="utf-8")
    with pytest.raises(ProductError, match="not a velocity calibration .a TOF calibration"):
        load_calibration(wrong)


@pytest.mark.parametrize("command", ["decode", "fit"])
def test_decode_and_fit_refuse_before_any_work(tmp_path, command, monkeypatch):
    import idex.decode.raw

    target = tmp_path / "out.nc"
    target.write_bytes(b"previous")
    monkeypatch.setattr(idex.decode.raw, "decode_bytes", lambda *a, **k: pytest.fail("decoded before refusing"))
    result = run(command, str(CAPTURE_2023_12), "-o", str(target))
    assert result.exit_code == 1 and "pass --overwrite" in result.output and target.read_bytes() == b"previous"


def test_view_refuses_a_table_before_starting_qt(tmp_path):
    table = tmp_path / "events.csv"
    table.write_text("event,epoch\n1,2023-12-14\n", encoding="utf-8")
    result = run("view", str(table))
    assert result.exit_code == 2 and "not event files" in result.output and "Traceback" not in result.output


def test_view_without_qt_is_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_qt(name, *args, **kwargs):
        if name.startswith("PySide6"):
            raise ImportError("No module named 'PySide6'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "idex.apps.view.app", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_qt)
    result = run("view", str(CAPTURE_2023_12))
    assert result.exit_code == 1 and "pip install 'idex[gui]'" in result.output
