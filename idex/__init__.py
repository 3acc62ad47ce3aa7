"""idex: decode, fit, calibrate and export data of the IDEX dust-impact instrument (IMAP).

>>> import idex
>>> tree = idex.open_raw(idex.testing.sample_capture())
>>> sorted(tree.children)[:2]
['apid_1376', 'apid_1377']

Start-up is part of the interface: ``import idex`` loads nothing heavy. The public names below are
imported on first use (PEP 562 ``__getattr__``), so ``idex --help`` never imports xarray, NumPy or
numba. The ``ds.idex`` accessor is registered as soon as xarray is imported, whichever comes first:
right here if xarray is already loaded, otherwise by a one-shot import hook that runs after xarray's
own import finishes (:mod:`idex._registration`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from idex._registration import register_accessor_with_xarray
from idex._version import __version__

if TYPE_CHECKING:
    from idex import exceptions, testing
    from idex.decode.raw import decode_bytes, open_raw
    from idex.io.products import open_cdf
    from idex.model.quality import FitStatus, QualityFlag
    from idex.opening import open, open_products
    from idex.schema import Schema, available_schemas, load_schema, validate_schema
    from idex.science.lab_calibration import calibrate
    from idex.scope import open_trc

__all__ = [
    "FitStatus",
    "QualityFlag",
    "Schema",
    "__version__",
    "available_schemas",
    "calibrate",
    "decode_bytes",
    "exceptions",
    "load_schema",
    "open",
    "open_cdf",
    "open_products",
    "open_raw",
    "open_trc",
    "testing",
    "validate_schema",
]

_HOME = {
    "FitStatus": "idex.model.quality",
    "QualityFlag": "idex.model.quality",
    "Schema": "idex.schema",
    "available_schemas": "idex.schema",
    "calibrate": "idex.science.lab_calibration",
    "decode_bytes": "idex.decode.raw",
    "load_schema": "idex.schema",
    "open": "idex.opening",
    "open_cdf": "idex.io.products",
    "open_products": "idex.opening",
    "open_raw": "idex.decode.raw",
    "open_trc": "idex.scope",
    "validate_schema": "idex.schema",
}
"""Module that defines each public name."""


def __getattr__(name: str) -> Any:
    """Import a public name, or a submodule (``idex.testing``, ``idex.io``), when first used."""
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'idex' has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module 'idex' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


register_accessor_with_xarray()
