"""Unit conversion factors, written once (SI prefixes, not instrument facts: those live in ``schemas/`` and
``defs/``).

>>> 3.0 * COULOMB_PER_PICOCOULOMB
3e-12
"""

from __future__ import annotations

__all__ = ["COULOMB_PER_PICOCOULOMB", "PICOCOULOMB_PER_MILLIAMP_MICROSECOND"]

COULOMB_PER_PICOCOULOMB = 1e-12
"""C per pC."""

PICOCOULOMB_PER_MILLIAMP_MICROSECOND = 1e3
"""pC per mA·µs: the charge of a current (mA) integrated over time (µs), 1e-3 A x 1e-6 s = 1e-9 C."""
