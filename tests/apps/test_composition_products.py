"""The composition's products: the command's table and plots, the noise diagnostics and their figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from idex.apps.cli import main
from idex.apps.composition_plots import noise_figure, spectrum_figure, ternary_figure
from tests.conftest import CAPTURE_2023_12


def test_composition_command_writes_a_table_and_plots(tmp_path):
    table, plots = tmp_path / "table.csv", tmp_path / "plots"
    result = CliRunner().invoke(main, ["composition", str(CAPTURE_2023_12), "-o", str(table), "--plots", str(plots)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(table)
    assert len(frame) == 10 and {
        "Mg_abundance",
        "Mg_upper_limit",
        "ratio_mg_si",
        "ratio_mg_si_stderr",
        "rsf_status",
        "reference_match",
        "Mg_isotope_pattern_pvalue",
        "Mg_isotope_pattern_status",
    } <= set(frame.columns)
    assert (frame["rsf_status"] == "test-parameters").all()
    analysed = frame["composition_status"] == 0
    assert analysed.sum() >= 6
    # every event left out or not analysed is counted, with the reason
    assert f"{analysed.sum()} analysed; not analysed: {(~analysed).sum()} no mass scale" in result.output
    assert "4 events that are not dust hits left out (--all-events keeps them)" in result.output
    assert np.allclose(frame.loc[analysed, [c for c in frame if c.endswith("_abundance")]].sum(axis=1), 1.0)
    names = {p.name for p in plots.iterdir()}
    assert "ternary_mg_si_fe.png" in names and any(n.endswith("_noise.png") for n in names)
    assert sum(n.endswith(".png") and "_event" in n for n in names) == analysed.sum()


def test_composition_command_names_a_bad_rsf_file(tmp_path):
    rsf = tmp_path / "rsf.yaml"
    rsf.write_text("status: lab\nrsf: {Mg: 1.0}\n")
    result = CliRunner().invoke(
        main, ["composition", str(CAPTURE_2023_12), "-o", str(tmp_path / "t.csv"), "--rsf", str(rsf)]
    )
    assert result.exit_code == 1 and "rsf.yaml" in result.output and "Fe" in result.output


def test_noise_diagnostics_of_the_real_capture(events_2023_12):
    """The TOF-High noise: Gaussian width near the robust width (2.97 DN, the value the mass tests use) and the
    autocorrelation of its ringing (a negative lobe two samples away, as seen in the pre-trigger records)."""
    diagnostics = events_2023_12.idex.noise()
    high = diagnostics.sel(channel="tof_high")
    assert abs(float(high["noise_sigma"].median()) - 2.97) < 0.5
    assert float(high["noise_robust_sigma"].median()) == np.float64(2.9652)
    correlation = np.nanmedian(high["noise_autocorrelation"].values, axis=0)
    assert correlation[0] == 1.0 and correlation[2] < -0.2
    power = diagnostics["noise_power_sample_high"].sel(channel="tof_high").values
    assert np.all(np.isfinite(power)) and power.max() > 0
    assert np.isnan(diagnostics["noise_power_sample_low"].sel(channel="tof_high").values).all()


def test_figures_draw_what_they_say(events_2023_12):
    result = events_2023_12.isel(event=[0, 2, 3]).idex.composition()
    figure = spectrum_figure(result, 0)
    labels = [t.get_text() for t in figure.axes[0].texts]
    assert "Mg-24*" in labels and len(labels) == len(set(labels))
    figure = ternary_figure([("capture", result)])
    assert "CI chondrite" in [t.get_text() for t in figure.axes[0].texts]
    figure = noise_figure(events_2023_12.isel(event=[0, 1]).idex.noise(["tof_high", "tof_mid"]))
    assert len(figure.axes) == 6


def test_composition_survives_netcdf_and_cdf(events_2023_12, tmp_path):
    """The results live in the event model: every writer keeps them, with their provenance."""
    import idex

    result = events_2023_12.isel(event=[0, 2, 3]).idex.composition()
    for suffix in ("nc", "cdf"):
        path = tmp_path / f"composition.{suffix}"
        result.idex.to_netcdf(str(path)) if suffix == "nc" else result.to_cdf(str(path))
        back = idex.open(path)
        np.testing.assert_array_equal(back["abundance"].values, result["abundance"].values)
        np.testing.assert_array_equal(back["line_detected"].values.astype(bool), result["line_detected"].values)
        assert list(back["species"].values) == list(result["species"].values)
        assert back["abundance"].attrs["rsf_status"] == "test-parameters"
