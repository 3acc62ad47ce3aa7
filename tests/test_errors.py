"""One error vocabulary (``idex.exceptions``): every user-facing error an IdexError that keeps the builtin base
the public API promised, with a message naming what is at fault; statuses that carry their messages."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import idex
from idex import exceptions
from idex.model.quality import STATUS_MESSAGES, FitStatus


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        pytest.param(exceptions.InputError, ValueError, id="InputError"),
        pytest.param(exceptions.MissingKeyError, KeyError, id="MissingKeyError"),
        pytest.param(exceptions.MissingExtraError, ImportError, id="MissingExtraError"),
        pytest.param(exceptions.ExpressionError, ValueError, id="ExpressionError"),
        pytest.param(exceptions.TrcError, ValueError, id="TrcError"),
        pytest.param(exceptions.ProductError, ValueError, id="ProductError"),
        pytest.param(exceptions.PacketDecodeError, ValueError, id="PacketDecodeError"),
    ],
)
def test_each_error_is_an_idex_error_and_keeps_its_builtin(error, builtin):
    assert issubclass(error, exceptions.IdexError) and issubclass(error, builtin)


@pytest.mark.parametrize(
    ("moved", "home"),
    [
        pytest.param("idex.schema.expressions.ExpressionError", "ExpressionError", id="ExpressionError"),
        pytest.param("idex.io.trc.TrcError", "TrcError", id="TrcError"),
    ],
)
def test_moved_names_still_import_from_their_old_modules(moved, home):
    import importlib

    module, name = moved.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is getattr(exceptions, home)


def _events() -> xr.Dataset:
    return idex.open_raw(idex.testing.sample_capture(), group="events")


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        pytest.param(
            lambda ds: ds.drop_vars("dust_hit_flag").idex.dust(),
            exceptions.MissingKeyError,
            "dust_hit_flag",
            id="dust-without-classification",
        ),
        pytest.param(
            lambda ds: ds.idex.time("tof_nowhere"),
            exceptions.MissingKeyError,
            "'tof_nowhere'",
            id="time-of-unknown-channel",
        ),
        pytest.param(
            lambda ds: idex.open_raw(idex.testing.sample_capture(), group="nowhere"),
            exceptions.MissingKeyError,
            "no group 'nowhere'",
            id="unknown-group",
        ),
        pytest.param(
            lambda ds: idex.testing.sample_capture("1999"), exceptions.InputError, "'1999'", id="unknown-sample"
        ),
    ],
)
def test_user_errors_name_what_is_at_fault(call, error, names):
    with pytest.raises(error) as caught:
        call(_events())
    assert names in str(caught.value)
    assert not str(caught.value).startswith(("'", '"'))  # a KeyError's message is not shown quoted


def test_fit_status_carries_its_message():
    assert FitStatus.AT_BOUND.message.startswith("at a bound")
    assert STATUS_MESSAGES == tuple(status.message for status in FitStatus)
    assert [int(s) for s in FitStatus] == list(range(len(FitStatus)))  # codes index STATUS_MESSAGES
    assert np.asarray(STATUS_MESSAGES)[[FitStatus.NO_SIGNAL]].tolist() == [FitStatus.NO_SIGNAL.message]


def test_removed_fit_error_warns_and_catches_any_idex_error():
    with pytest.warns(DeprecationWarning, match="FitError is gone"):
        fit_error = exceptions.FitError
    assert fit_error is exceptions.IdexError


def test_old_open_products_path_warns_and_resolves():
    from idex import opening

    with pytest.warns(DeprecationWarning, match="use idex.open_products"):
        from idex.io.products import open_products
    assert open_products is opening.open_products


@pytest.mark.parametrize(
    ("url", "error", "names"),
    [
        pytest.param(
            "postgresql+psycopg://user@host/accelerator", exceptions.MissingExtraError, "idex[db]", id="driver-missing"
        ),
        pytest.param("not a url", exceptions.ProductError, "not a URL SQLAlchemy reads", id="unreadable-url"),
    ],
)
def test_accelerator_database_errors_say_what_to_do(monkeypatch, url, error, names):
    import sys

    import sqlalchemy as sa

    from idex.scope.accelerator import _rows

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the driver were not installed
    with pytest.raises(error, match=names.replace("[", r"\[").replace("]", r"\]")):
        _rows(sa, url, "shots", None)
