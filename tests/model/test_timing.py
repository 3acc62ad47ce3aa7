"""MET -> UTC with leap seconds."""

from __future__ import annotations

import numpy as np

from idex.model.timing import leap_second_dates, met_to_utc

EPOCH = np.datetime64("2010-01-01T00:00:00", "ns")


def utc(coarse, fine=0):
    return met_to_utc(np.atleast_1d(coarse), np.atleast_1d(fine), epoch=EPOCH, fine_tick_s=20e-6)


def test_fine_ticks_are_20_microseconds():
    assert utc(0, 1)[0] == EPOCH + np.timedelta64(20, "us")


def test_leap_seconds_since_2010_are_applied():
    assert leap_second_dates()[-1] == np.datetime64("2017-01-01")
    after_2017 = (np.datetime64("2023-12-14T16:32:25", "s") - np.datetime64("2010-01-01", "s")).astype(int) + 3
    assert utc(after_2017)[0] == np.datetime64("2023-12-14T16:32:25", "ns")


def test_around_the_2012_leap_second():
    elapsed = (np.datetime64("2012-07-01", "s") - np.datetime64("2010-01-01", "s")).astype(int)
    got = utc(np.array([elapsed - 1, elapsed, elapsed + 1]), np.zeros(3))
    assert got.astype("datetime64[s]").astype(str).tolist() == [
        "2012-06-30T23:59:59",
        "2012-06-30T23:59:59",
        "2012-07-01T00:00:00",
    ]
