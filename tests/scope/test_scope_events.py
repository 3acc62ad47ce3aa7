"""Accelerator shots are events like any other: fit, quicklook, SNR, table, CDF/netCDF, LeCroy's own file names."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from conftest import DATA

import idex
from idex.apps.cli import main
from idex.exceptions import PacketWarning

PULSE = DATA / "lecroy" / "pulse.trc"


@pytest.fixture(scope="module")
def shots():
    return idex.open(PULSE)


@pytest.mark.parametrize("suffix", ["cdf", "nc"])
def test_fitted_shots_round_trip_through_cdf_and_netcdf(shots, tmp_path, suffix):
    fitted = shots.idex.fit(merge=True)
    assert "ion_grid_fit_amplitude" in fitted and fitted["ion_grid_fit_message"].dtype.kind == "U"
    back = idex.open(idex.io.to_file(fitted, tmp_path / f"shots.{suffix}"))
    assert back.attrs["idex_scope_setup"] == "idex_dust_accelerator"
    for name, variable in fitted.variables.items():  # netCDF keeps text, not its declared width (CDF keeps both)
        assert back[name].dtype == variable.dtype or (suffix == "nc" and variable.dtype.kind == "U"), name
        np.testing.assert_array_equal(back[name].values, variable.values, err_msg=name)
        assert back[name].attrs.keys() == variable.attrs.keys(), name


def test_scope_cdf_is_istp_with_its_own_profile(shots, tmp_path):
    import cdflib

    path = shots.idex.to_cdf(tmp_path / "shots.cdf")
    assert cdflib.CDF(str(path)).globalattsget()["Logical_source"] == ["imap_idex_lab_shots"]
    assert xr.open_dataset(path)["ion_grid"].dtype == np.float64  # the backend recognises it by content


@pytest.mark.parametrize("name", ["C2Trace00001.trc", "C2--Trace--00001.trc"])
def test_lecroy_own_names_are_recognised(tmp_path, name):
    shutil.copy(PULSE, tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PacketWarning)
        ds = idex.open_products(str(tmp_path / "*.trc"))
    assert ds.sizes["event"] == 1 and "ion_grid" in ds and (ds["packet_schema"] == "idex_dust_accelerator").all()


@pytest.mark.parametrize("command", ["fit", "quicklook", "snr", "table"])
def test_every_command_takes_shots(tmp_path, command):
    output = {
        "fit": ["-o", str(tmp_path / "f.cdf")],
        "quicklook": ["-o", str(tmp_path / "q")],
        "snr": ["-o", str(tmp_path / "s")],
        "table": ["-o", str(tmp_path / "t.csv")],
    }[command]
    result = CliRunner().invoke(main, [command, str(PULSE), *output])
    assert result.exit_code == 0, result.output
    if command == "table":
        assert len(pd.read_csv(tmp_path / "t.csv")) == 1
