"""The columns of a fit's output rows (:func:`idex.fit.events.fit_arrays`), by name.

Every event's fit is one row of numbers: the model's parameters, their standard errors, χ², reduced χ²,
status, iterations, the fitted peak's time and signed height (impact model; NaN otherwise) and the evidence
for a pulse. :class:`FitColumns` names them once, from the parameter names, so that the code that writes a
row and the code that reads it (the Dataset outputs, the viewer, tests) agree by name, not by position.
"""

from __future__ import annotations

from dataclasses import dataclass

from idex.schema import FitSpec

__all__ = ["FitColumns"]

_AFTER = ("chisqr", "redchi", "status", "iterations", "peak_time", "peak_height", "significance")
"""The columns after the parameters and their standard errors, in order."""


@dataclass(frozen=True)
class FitColumns:
    """Column names of a fit's output rows and where each sits.

    Examples
    --------
    >>> columns = FitColumns(("center", "sigma"))
    >>> columns.names[:4], columns["status"], len(columns)
    (('center', 'sigma', 'center_stderr', 'sigma_stderr'), 6, 11)
    >>> columns.values, columns.errors
    (slice(0, 2, None), slice(2, 4, None))
    """

    parameters: tuple[str, ...]

    @classmethod
    def of(cls, spec: FitSpec) -> FitColumns:
        """The columns of the fits ``spec`` declares."""
        return cls(tuple(parameter.name for parameter in spec.parameters))

    @property
    def names(self) -> tuple[str, ...]:
        """Every column's name, in order: parameters, ``<parameter>_stderr``, then χ², status and the others."""
        return (*self.parameters, *(f"{name}_stderr" for name in self.parameters), *_AFTER)

    @property
    def values(self) -> slice:
        """The parameters' columns."""
        return slice(0, len(self.parameters))

    @property
    def errors(self) -> slice:
        """The standard errors' columns (in the parameters' order)."""
        return slice(len(self.parameters), 2 * len(self.parameters))

    def __getitem__(self, name: str) -> int:
        """Index of the column ``name``."""
        if name not in self.names:
            raise KeyError(f"no fit column {name!r}; the columns are {list(self.names)}")
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)
