"""CDF attribute values as plain Python, for the readers of CDF files (:mod:`idex.io.cdf`, :mod:`idex.io.official`).

cdflib hands an attribute back as a one-element list (text), a NumPy scalar or an array (numbers), depending on
the call that read it; the model keeps scalars and lists.

>>> import numpy as np
>>> plain_attribute(["text"]), plain_attribute(np.array([3])), plain_attribute(np.array([1.5, 2.0]))
('text', 3, [1.5, 2.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plain_attribute"]


def plain_attribute(value: Any) -> Any:
    """One CDF attribute value as a Python scalar (a single value) or list (several numbers)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, np.ndarray):
        return value.item() if value.size == 1 else value.tolist()
    return value.item() if isinstance(value, np.generic) else value
