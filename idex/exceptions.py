"""Exception and warning hierarchy of ``idex``.

Every exception derives from :class:`IdexError` and from the builtin that matches its
meaning, so ``except ValueError`` keeps working for callers who do not know ``idex``.
Messages say what was expected, what was found and where (file, YAML path, byte offset, event).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "IdexError",
    "SchemaError",
    "SchemaIssue",
    "ValidationResult",
    "PacketDecodeError",
    "DecompressionError",
    "ExportError",
    "ExpressionError",
    "InputError",
    "MissingExtraError",
    "MissingKeyError",
    "TrcError",
    "CalibrationWarning",
    "IdexWarning",
    "PacketWarning",
    "ProductError",
    "SchemaWarning",
]


class IdexError(Exception):
    """Base class of every error raised by ``idex``."""


@dataclass(frozen=True)
class SchemaIssue:
    """One problem found while validating a schema.

    Attributes
    ----------
    code : str
        Short machine-readable code, e.g. ``"unknown-name"``.
    path : str
        YAML path of the offending node, e.g. ``"channels.tof_high.sample_bits"``.
    message : str
        What was expected and what was found.
    line : int or None
        1-based line in the YAML file, when known.
    """

    code: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.path or '<root>'}: {self.message} [{self.code}]"


@dataclass
class ValidationResult:
    """All problems found in one schema file (empty when the schema is valid)."""

    source: str
    issues: list[SchemaIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.issues

    def add(self, code: str, path: str, message: str, line: int | None = None) -> None:
        """Record one problem."""
        self.issues.append(SchemaIssue(code, path, message, line))

    def __str__(self) -> str:
        head = f"{self.source}: {len(self.issues)} problem(s)"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


class SchemaError(IdexError, ValueError):
    """A schema file is missing, unreadable or invalid; ``result`` lists every problem."""

    def __init__(self, result: ValidationResult) -> None:
        super().__init__(str(result))
        self.result = result


class PacketDecodeError(IdexError, ValueError):
    """Telemetry could not be decoded in strict mode.

    Attributes
    ----------
    offset : int or None
        Byte offset in the capture where the problem starts.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class DecompressionError(IdexError, ValueError):
    """A compressed waveform could not be decoded."""


class ProductError(IdexError, ValueError):
    """A file is not a readable IDEX product (truncated, corrupted, or another product); the message names it."""


class ExportError(IdexError, ValueError):
    """A dataset cannot be written in the requested format."""


class MissingExtraError(IdexError, ImportError):
    """A feature needs an optional part of idex that is not installed; the message names the extra to install."""


class InputError(IdexError, ValueError):
    """An argument or an input's content cannot be used (a value out of range, too few events, an unknown
    choice); the message names the argument, file or key and what would do."""


class ExpressionError(IdexError, ValueError):
    """A schema expression uses syntax or names outside the allowed set (``idex.schema.expressions``)."""


class TrcError(IdexError, ValueError):
    """A file is not a readable LeCroy trace (``idex.io.trc``)."""


class MissingKeyError(IdexError, KeyError):
    """Something a computation needs is absent: a variable or attribute of the event model, a group, a schema or
    setup section, a table entry; the message names it and how to get it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class IdexWarning(UserWarning):
    """Base class of warnings issued by ``idex``."""


class PacketWarning(IdexWarning):
    """A packet or event was skipped or flagged while decoding."""


class CalibrationWarning(IdexWarning):
    """Derived numbers come from calibration curves that are not the instrument's flight calibration."""


class SchemaWarning(IdexWarning):
    """A schema on the search path is skipped or ambiguous (named in the message)."""


def __getattr__(name: str) -> type[IdexError]:
    """``FitError`` was never raised (a fit that fails has a status, :class:`idex.model.quality.FitStatus`)."""
    if name == "FitError":
        import warnings

        warnings.warn(
            "idex.exceptions.FitError is gone (never raised: fits report a FitStatus); catch IdexError",
            DeprecationWarning,
            stacklevel=2,
        )
        return IdexError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
