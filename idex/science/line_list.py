"""The composition's reference data: the line list of ions and the relative sensitivity factors (RSF).

Both are data files in ``defs/`` (``composition_lines.csv``, ``rsf_defaults.yaml``) named by the schema's
``composition`` section; a user passes their own file or mapping instead. Lines closer on the time axis
than the instrument resolves are told apart only by the isotope patterns of their species;
:func:`ambiguities` names, for each fitted line, the lines it cannot be told from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from idex._typing import PathLike
from idex.exceptions import InputError, MissingKeyError
from idex.resources import data_dir

__all__ = ["LineList", "Sensitivities", "ambiguities", "load_lines", "load_rsf"]

KINDS = ("atom", "molecule", "interference")


@dataclass(frozen=True)
class LineList:
    """Ion lines: species, label (``Mg-24``), mass (u), isotopic abundance within the species, kind."""

    species: tuple[str, ...]
    labels: tuple[str, ...]
    masses: np.ndarray
    abundances: np.ndarray
    kinds: tuple[str, ...]
    source: str

    @property
    def fitted(self) -> np.ndarray:
        """Indices of the lines that are fitted (atoms and molecules, not interference-only lines)."""
        return np.array([i for i, kind in enumerate(self.kinds) if kind != "interference"], dtype=int)

    @property
    def fitted_species(self) -> tuple[str, ...]:
        """Species with fitted lines, in file order."""
        return tuple(dict.fromkeys(self.species[i] for i in self.fitted))

    @property
    def elements(self) -> tuple[str, ...]:
        """Species that are atoms (they get an element abundance), in file order."""
        return tuple(dict.fromkeys(s for s, k in zip(self.species, self.kinds, strict=True) if k == "atom"))


@dataclass(frozen=True)
class Sensitivities:
    """Relative sensitivity factors per element, with where they came from and what they are."""

    rsf: Mapping[str, float]
    status: str
    source: str
    stderr: Mapping[str, float]
    """Standard error of each factor (0 where the table gives none)."""


@lru_cache(maxsize=8)
def _read_lines(path: str) -> LineList:
    rows = [
        line.split(",")
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "species,"))
    ]
    for number, row in enumerate(rows, 1):
        if len(row) != 5 or row[4].strip() not in KINDS:
            raise InputError(
                f"{path}: line list row {number} {','.join(row)!r} is not species,label,mass,"
                f"abundance,kind with kind one of {', '.join(KINDS)}"
            )
    return LineList(
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        np.array([float(r[2]) for r in rows]),
        np.array([float(r[3]) for r in rows]),
        tuple(r[4].strip() for r in rows),
        Path(path).name,
    )


def load_lines(lines: PathLike) -> LineList:
    """A line list from a CSV file: a bare name is looked up in ``defs/``."""
    path = Path(lines)
    if not path.is_file() and (data_dir("defs") / path).is_file():
        path = data_dir("defs") / path
    if not path.is_file():
        raise FileNotFoundError(f"line list {lines}: no such file (nor in {data_dir('defs')})")
    return _read_lines(str(path))


def load_rsf(rsf: PathLike | Mapping[str, Any], elements: tuple[str, ...]) -> Sensitivities:
    """Relative sensitivity factors from a YAML file (a bare name is looked up in ``defs/``) or a mapping.

    Every element of ``elements`` needs a positive RSF; a missing one is an error naming it. A file's optional
    ``rsf_stderr`` mapping gives the factors' standard errors and must then cover every element; in a mapping,
    an element's value may be a ``(factor, stderr)`` pair.
    """
    errors: dict[str, Any] = {}
    if isinstance(rsf, Mapping):
        table: dict[str, Any] = dict(rsf)
        status, source = "user", "mapping given to composition()"
        pairs = {e: v for e, v in table.items() if isinstance(v, (tuple, list))}
        table.update({e: v[0] for e, v in pairs.items()})
        errors = {e: v[1] for e, v in pairs.items()}
    else:
        path = Path(rsf)
        if not path.is_file() and (data_dir("defs") / path).is_file():
            path = data_dir("defs") / path
        if not path.is_file():
            raise FileNotFoundError(f"RSF table {rsf}: no such file (nor in {data_dir('defs')})")
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(doc.get("rsf"), Mapping):
            raise InputError(f"{path}: no 'rsf' mapping of element to relative sensitivity factor")
        table, status, source = (
            dict(doc["rsf"]),
            str(doc.get("status", "unknown")),
            f"{path.name}: " + " ".join(str(doc.get("source", "no source given")).split()),
        )
        if doc.get("rsf_stderr") is not None:
            if not isinstance(doc["rsf_stderr"], Mapping):
                raise InputError(f"{path}: 'rsf_stderr' must map element to the standard error of its RSF")
            errors = dict(doc["rsf_stderr"])
            missing = [e for e in elements if e not in errors]
            if missing:
                raise MissingKeyError(f"{path}: rsf_stderr has no standard error for {', '.join(missing)}")
    missing = [e for e in elements if e not in table]
    if missing:
        raise MissingKeyError(f"RSF table ({source}) has no factor for {', '.join(missing)}")
    values = {e: float(table[e]) for e in elements}
    bad = [e for e, v in values.items() if not (math.isfinite(v) and v > 0)]
    if bad:
        raise InputError(f"RSF of {', '.join(bad)} must be positive ({source})")
    stderr = {e: float(errors.get(e, 0.0)) for e in elements}
    bad = [e for e, v in stderr.items() if not (math.isfinite(v) and v >= 0)]
    if bad:
        raise InputError(f"RSF standard error of {', '.join(bad)} must be finite and not negative ({source})")
    return Sensitivities(values, status, source, stderr)


def ambiguities(lines: LineList, stretch: float, dt: float, resolution_samples: float) -> dict[str, tuple[str, ...]]:
    """For each fitted line, the other lines (fitted or interference) it cannot be told from on the time axis.

    Two lines are unresolved when ``stretch * |sqrt(m1) - sqrt(m2)|`` is below ``resolution_samples`` samples.
    """
    times = stretch * np.sqrt(lines.masses)
    close = np.abs(times[:, None] - times[None, :]) < resolution_samples * dt
    return {
        lines.labels[i]: tuple(
            lines.labels[j] for j in np.flatnonzero(close[i]) if j != i and lines.species[j] != lines.species[i]
        )
        for i in lines.fitted
    }
