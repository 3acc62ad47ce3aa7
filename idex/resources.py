"""Locate the files shipped with :mod:`idex`: YAML schemas (``schemas/``) and mission definitions (``defs/``).

A wheel carries both folders inside the package as ``idex/_data/schemas`` and ``idex/_data/defs``
(hatch ``force-include``); a source checkout or editable install reads them from the repository root.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = ["data_dir"]


def data_dir(kind: Literal["schemas", "defs"]) -> Path:
    """Return the folder holding the shipped ``schemas`` or ``defs`` files.

    Parameters
    ----------
    kind : {"schemas", "defs"}
        Which folder.

    Returns
    -------
    pathlib.Path
        The packaged copy when installed from a wheel, else the repository folder.
    """
    packaged = Path(str(resources.files("idex"))) / "_data" / kind
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / kind
