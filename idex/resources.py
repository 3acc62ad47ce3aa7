"""Locate and read the files shipped with ``idex``: YAML schemas (``schemas/``) and mission definitions
(``defs/``).

A wheel carries both folders inside the package as ``idex/_data/schemas`` and ``idex/_data/defs``
(hatch ``force-include``); a source checkout or editable install reads them from the repository root.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = ["YAML_LOADER", "data_dir", "read_yaml"]

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (several times faster), else the pure-Python one."""


def read_yaml(path: str | Path) -> Any:
    """The YAML document in ``path``, read with the safe loader (libyaml's when available)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=YAML_LOADER)  # noqa: S506 - a safe loader


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
