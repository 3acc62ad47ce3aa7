"""Optional parts of idex and the one-line message a feature gives when its part is not installed.

The core (``pip install idex``) decodes, fits, calibrates and exports. Heavier parts are extras, as xarray
keeps dask optional: ``idex[dask]`` (lazy collections of many files, ``--scheduler``), ``idex[db]`` (the
accelerator database), ``idex[gui]`` (the viewer), ``idex[pointing]`` (SPICE pointing), ``idex[docs]``.
Keeping dask out of the core matters beyond disk space: xarray imports ``dask.array`` in every process as
soon as dask is installed, which costs a fresh ``idex decode`` about a second.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from idex.exceptions import MissingExtraError

__all__ = ["EXTRA_OF", "require"]

EXTRA_OF = {
    "dask": "dask",
    "distributed": "dask",
    "sqlalchemy": "db",
    "psycopg": "db",
    "PySide6": "gui",
    "spiceypy": "pointing",
    "astropy_healpix": "pointing",
}
"""The extra (``pip install 'idex[<extra>]'``) that installs each optional top-level module."""


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise one line saying which extra installs it.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"distributed"`` or ``"dask.array"``; its top-level name must be in
        :data:`EXTRA_OF`.
    feature : str
        What needs it, as the user called it (``"idex batch --scheduler"``).

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingExtraError
        If the module is not installed (an ``ImportError`` too).

    Examples
    --------
    >>> EXTRA_OF["distributed"]  # so ``require("distributed", "idex batch --scheduler")`` names idex[dask]
    'dask'
    """
    top = module.split(".")[0]
    if top not in EXTRA_OF:
        raise KeyError(f"no extra provides {top!r} (idex.extras.EXTRA_OF)")
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if error.name is not None and error.name.split(".")[0] != top:
            raise  # installed but broken (one of its own dependencies is missing): the real error says which
        raise MissingExtraError(
            f"{feature} needs {top}, which is not installed: pip install 'idex[{EXTRA_OF[top]}]'", name=top
        ) from None
