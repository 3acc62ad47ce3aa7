"""The model documentation lists every variable the shipped schemas produce."""

from __future__ import annotations

from pathlib import Path

import pytest

import idex

MODEL_DOC = Path(__file__).resolve().parent.parent / "docs" / "model.md"


@pytest.mark.parametrize("version", ["2023_07", "2023_12"])
def test_every_variable_is_documented(version):
    text = MODEL_DOC.read_text(encoding="utf-8")
    ds = idex.open_raw(idex.testing.sample_capture(version), group="events")
    missing = [name for name in [*ds.coords, *ds.data_vars] if f"`{name}`" not in text]
    assert not missing, f"docs/model.md does not mention {missing}"


def test_every_derived_variable_is_documented(events_2023_12):
    """Outputs of fit, mass, velocity and fit_peaks appear in docs/model.md (per-channel names shown for target_low)."""
    text = MODEL_DOC.read_text(encoding="utf-8")
    fitted = events_2023_12.idex.fit(["target_low"], merge=True).idex.mass()
    with pytest.warns(idex.exceptions.CalibrationWarning):
        velocity = fitted.idex.velocity()
    names = [*fitted.data_vars, *fitted.coords, *velocity.data_vars]
    peaks = [name.removeprefix("tof_high_peak").removesuffix("_stderr") for name in fitted.idex.fit_peaks().data_vars]
    missing = [n for n in names if f"`{n}`" not in text] + [
        n for n in peaks if f"`{n}`" not in text and f"`tof_high_peak{n}`" not in text
    ]
    assert not missing, f"docs/model.md does not mention {missing}"


def _bash_block(markdown: Path) -> list[str]:
    text = markdown.read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_the_new_packet_version_walkthrough_runs(tmp_path, monkeypatch):
    """Every command of docs/new-packet-version.md's walkthrough, as written, from a folder holding a capture."""
    import shlex
    import shutil

    from click.testing import CliRunner

    from idex.apps.cli import main

    monkeypatch.chdir(tmp_path)
    shutil.copy(idex.testing.sample_capture(), tmp_path / "capture.pkts")
    commands = _bash_block(MODEL_DOC.parent / "new-packet-version.md")
    assert len(commands) >= 5
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "idex"
        result = CliRunner().invoke(main, words[1:])
        assert result.exit_code == 0, (command, result.output)
    assert idex.open(tmp_path / "fitted.nc").attrs["idex_schema"] == "science_2025_03"


def _python_blocks(markdown: Path) -> list[str]:
    text = markdown.read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]


def test_the_readme_python_examples_run(tmp_path, monkeypatch):
    """README's Python blocks, as written, in the folder its first command leaves (capture + events.nc)."""
    import shutil
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    shutil.copy(idex.testing.sample_capture(), tmp_path / "capture.pkts")
    (tmp_path / "data").mkdir()
    for version in ("2023_07", "2023_12"):
        shutil.copy(idex.testing.sample_capture(version), tmp_path / "data")
    shutil.copy(idex.resources.data_dir("defs") / "velocity_calibration.yaml", tmp_path / "my_curves.yaml")
    idex.open_raw("capture.pkts", group="events").idex.to_netcdf("events.nc")
    blocks = _python_blocks(MODEL_DOC.parent.parent / "README.md")
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", idex.exceptions.CalibrationWarning)  # the shipped test-parameter curves
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own examples
    ds = namespace["ds"]
    assert ds["target_low_fit_status"].sizes["event"] == 14 and "mass" in ds.coords
    assert (tmp_path / "events.h5").is_file() and (tmp_path / "events.csv").is_file()
    assert len(list((tmp_path / "out").glob("imap_idex_l1a_sci_*.cdf"))) == 1
    assert namespace["many"].sizes["event"] == 33
