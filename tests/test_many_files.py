"""Many files as one model: every product kind, two packet versions, idex's own CDF read back."""

from __future__ import annotations

import shutil
import warnings

import cdflib
import numpy as np
import pytest
import xarray as xr
from conftest import CAPTURE_2023_07, CAPTURE_2023_12, DATA, L1A_2023_12

import idex
from idex.exceptions import IdexError, IdexWarning, PacketWarning, ProductError

MSG_2023_12 = DATA / "imap_idex_l1a_msg-10days_20231214_v001.0001.cdf"


@pytest.fixture(scope="module")
def two_versions():
    return idex.open_products([CAPTURE_2023_07, CAPTURE_2023_12])


def test_two_packet_versions_keep_every_field_in_its_own_type(two_versions, events_2023_07, events_2023_12):
    ds = two_versions
    assert ds.sizes["event"] == 33 and ds.attrs["idex_schemas"] == "science_2023_07 science_2023_12"
    july = ds["packet_schema"].values == "science_2023_07"
    assert july.sum() == 19 and (ds["packet_schema"].values[~july] == "science_2023_12").all()
    # a field only the newer version has: its own dtype, the fill value on the older events, and said so
    assert ds["blocks"].dtype == np.uint32 and (ds["blocks"].values[july] == np.iinfo(np.uint32).max).all()
    np.testing.assert_array_equal(ds["blocks"].values[~july], events_2023_12["blocks"].values)
    assert "science_2023_07 lack" in ds["blocks"].attrs["comment"]
    assert ds["hvps_hk_ch0"].dtype == np.uint16 and (ds["hvps_hk_ch0"].values[~july] == 65535).all()
    np.testing.assert_array_equal(ds["hvps_hk_ch0"].values[july], events_2023_07["hvps_hk_ch0"].values)
    np.testing.assert_array_equal(ds["trigger_time_high"].values[july], events_2023_07["trigger_time_high"].values)
    np.testing.assert_array_equal(ds["tof_high"].values[~july], events_2023_12["tof_high"].values)


def test_two_packet_versions_fit_and_export_in_every_profile(two_versions, events_2023_07, tmp_path):
    fitted = two_versions.idex.fit(["ion_grid"], merge=True)
    alone = events_2023_07.idex.fit(["ion_grid"])
    july = fitted["packet_schema"].values == "science_2023_07"
    np.testing.assert_allclose(fitted["ion_grid_fit_amplitude"].values[july], alone["ion_grid_fit_amplitude"].values)
    path = fitted.idex.to_cdf(tmp_path / "both.cdf")
    back = idex.open_cdf(path)
    assert back.sizes["event"] == 33 and back["blocks"].dtype == np.uint32
    np.testing.assert_array_equal(back["packet_schema"].values, fitted["packet_schema"].values)
    assert xr.open_dataset(path)["ion_grid"].dtype == np.uint16  # any CDF name: the engine is guessed by content
    official = two_versions.idex.to_cdf(tmp_path / "official.cdf", profile="official")
    blocks = cdflib.CDF(str(official)).varget("idx__txhdrblocks")
    assert (blocks[:19] == -9223372036854775808).all() and (blocks[19:] == 243679).all()  # official FILLVAL


def test_official_profile_of_the_older_version_fills_the_fields_it_lacks(events_2023_07, tmp_path):
    path = events_2023_07.idex.to_cdf(tmp_path / "july.cdf", profile="official")
    product = cdflib.CDF(str(path))
    assert (product.varget("idx__txhdrblocks") == -9223372036854775808).all()
    assert "science_2023_07" in product.varattsget("idx__txhdrblocks")["VAR_NOTES"]
    np.testing.assert_array_equal(idex.open_cdf(path)["tof_high"].values, events_2023_07["tof_high"].values)


def test_an_archive_with_a_message_product_skips_it_with_a_word(tmp_path):
    for name in (L1A_2023_12, MSG_2023_12, DATA / "imap_idex_l1b_sci-10days_20231214_v001.0001.cdf"):
        shutil.copy(name, tmp_path)
    with pytest.warns(IdexWarning) as caught:
        ds = idex.open_products(str(tmp_path / "*.cdf"))
    messages = [str(w.message) for w in caught]
    assert any("1 of 3 files skipped" in m and "imap_idex_l1a_msg" in m for m in messages)
    assert any("14 duplicate event(s)" in m for m in messages)
    assert ds.sizes["event"] == 14 and ds.attrs["files_skipped"] == 1 and ds.attrs["duplicates_dropped"] == 14
    with pytest.raises(ProductError, match="none of the 1 files holds events"):
        idex.open_products([MSG_2023_12])


def test_keep_duplicates_keeps_both_copies(tmp_path):
    shutil.copy(L1A_2023_12, tmp_path / "copy.cdf")
    ds = idex.open_products([L1A_2023_12, tmp_path / "copy.cdf"], keep_duplicates=True)
    assert ds.sizes["event"] == 28 and ds.attrs["duplicates_dropped"] == 0


def test_idex_cdf_is_read_by_open_cdf_without_invented_attributes(events_2023_12, tmp_path):
    fitted = events_2023_12.idex.fit(["ion_grid"], merge=True)
    path = fitted.idex.to_cdf(tmp_path / "mine.cdf")
    back = idex.open_cdf(path)
    assert set(back.variables) == set(fitted.variables)
    for name, variable in fitted.variables.items():
        if name in back.variables:
            assert back[name].dtype == variable.dtype, name
            assert back[name].attrs.keys() == variable.attrs.keys(), name
            for key, value in variable.attrs.items():
                np.testing.assert_array_equal(back[name].attrs[key], value, err_msg=f"{name}.{key}")


def test_seeded_fuzzing_of_two_versions_in_one_capture_loses_no_untouched_event(bytes_2023_12, bytes_2023_07):
    """Damaged concatenations of the two real packet versions: every event none of whose packets was touched
    decodes exactly as in its own capture (found by its impact time), whatever version it is."""
    import packet_tools as pt

    from tests.decode.test_nothing_lost import _damage

    rng = np.random.default_rng(20261201)
    parts = [bytes_2023_07, bytes_2023_12]
    references = [idex.open(CAPTURE_2023_07), idex.open(CAPTURE_2023_12)]
    data = b"".join(parts)
    packets = pt.split(data)
    starts = np.cumsum([0] + [len(p) for p in packets[:-1]])
    boundary = len(parts[0])
    science = [
        (int(s), int(s) + len(p), int(s) >= boundary, pt.event_number(p))
        for s, p in zip(starts, packets, strict=True)
        if pt.apid(p) == pt.SCIENCE_APID
    ]
    lost = checked = 0
    for _ in range(120):
        damaged, touched = _damage(rng, data, packets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PacketWarning)
            try:
                got = idex.decode_bytes(damaged)["events"].to_dataset()
            except IdexError:
                continue
        if not touched or any(b - a >= 3000 for a, b in touched):
            continue
        hit = {(part, number) for start, stop, part, number in science for a, b in touched if a < stop and b > start}
        for part, reference in enumerate(references):
            for row, number in enumerate(reference["event"].values):
                if (bool(part), int(number)) in hit:
                    continue
                match = np.flatnonzero(got["epoch"].values == reference["epoch"].values[row])
                same = match.size == 1 and all(
                    np.array_equal(got[n].values[match[0]], reference[n].values[row], equal_nan=True)
                    for n in reference.data_vars
                    if n != "quality_flags"
                )
                lost += not same
                checked += 1
    assert checked > 1000 and lost == 0


def test_the_overlap_warning_names_the_schema_open_raw_picks(tmp_path, monkeypatch):
    import re

    from click.testing import CliRunner

    from idex.apps.cli import main
    from idex.schema.loading import SCHEMA_PATH_ENV

    monkeypatch.setenv(SCHEMA_PATH_ENV, str(tmp_path))
    assert CliRunner().invoke(main, ["schema", "new", "science_2025_lab", "--from", "science_2023_12"]).exit_code == 0
    validated = CliRunner().invoke(main, ["schema", "validate", str(tmp_path / "science_2025_lab.yaml")])
    named = re.search(r"captures in the overlap go to (\w+)", validated.output)
    assert named is not None, validated.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PacketWarning)
        assert idex.open_raw(CAPTURE_2023_12).attrs["idex_schema"] == named.group(1)
