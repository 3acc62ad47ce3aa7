"""Type aliases shared across ``idex``."""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]
"""A file-system path given as a string or path object."""
