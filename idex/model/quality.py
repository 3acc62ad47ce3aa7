"""What the codes mean: the per-event ``quality_flags`` bits and the per-fit status codes."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the enums load without NumPy or xarray (``import idex; idex.QualityFlag``)
    import numpy as np
    import xarray as xr

__all__ = ["STATUS_MESSAGES", "FitStatus", "QualityFlag", "VelocityStatus", "without_flags"]


class QualityFlag(enum.IntFlag):
    """Why an event may not be trustworthy. ``0`` means no problem was found.

    Examples
    --------
    >>> QualityFlag(6)
    <QualityFlag.TRUNCATED|BAD_COMPRESSION: 6>
    """

    MISSING_CHANNEL = 1
    """A waveform channel has no packet at all; its samples hold the fill value."""
    TRUNCATED = 2
    """A channel lacks fragments or has a short/odd-sized payload; uncovered samples hold the fill value."""
    BAD_COMPRESSION = 4
    """A compressed channel could not be decompressed; its samples hold the fill value."""
    FIT_FAILED = 8
    """A waveform fit gave no result: iteration limit, or NaN/inf in the model or data."""
    CRC_MISMATCH = 16
    """A packet of the event failed its CRC-16 check; its content was kept."""
    MISSING_HEADER = 32
    """No event-header packet: header fields hold their fill value, derived times are NaN."""
    CONFLICTING_FRAGMENT = 64
    """The same fragment arrived twice with different content; the last arrival was kept."""
    DUPLICATE_PACKET = 128
    """An identical packet arrived more than once (retransmission); one copy was kept."""
    FIT_AT_BOUND = 256
    """A waveform fit ended on a parameter bound: its values are not an optimum."""
    FIT_UNDETERMINED = 512
    """A waveform fit did not pin down its parameters (error ≥ value, or the onset outside the record)."""
    NO_SIGNAL = 1024
    """A fitted channel shows no evidence of a pulse above its noise (status ``no_signal``): no fit numbers."""
    MASS_UNDETERMINED = 2048
    """The TOF to mass calibration paired fewer than three reference lines: no mass axis."""
    SCHEMA_MISMATCH = 4096
    """The event does not fit the schema it was decoded with: its header packet is longer than the schema's
    header, or its date lies inside another schema's validity (e.g. two captures concatenated); its header
    may be mis-decoded."""
    MASS_PRIOR_CONFLICT = 8192
    """The event's own TOF lines disagree with the campaign stretch (the schema's prior): its mass scale uses the
    campaign stretch with the campaign spread, the shift from its lines."""

    @classmethod
    def names_of(cls, flags: int) -> list[str]:
        """The lower-case names of the bits set in ``flags``, as figures and messages print them.

        Examples
        --------
        >>> QualityFlag.names_of(8194)
        ['truncated', 'mass_prior_conflict']
        """
        return [str(flag.name).lower() for flag in cls if flag & int(flags)]

    @classmethod
    def flag_attributes(cls) -> dict[str, object]:
        """CF ``flag_masks``/``flag_meanings`` attributes describing the bits."""
        return {
            "flag_masks": [int(flag) for flag in cls],
            "flag_meanings": " ".join(flag.name.lower() for flag in cls if flag.name),
        }


class FitStatus(enum.IntEnum):
    """Outcome of one fit; only :attr:`CONVERGED` is a success. Each code carries its message (``.message``).

    Examples
    --------
    >>> FitStatus.AT_BOUND.message
    'at a bound: the best chi-square lies on a parameter limit'
    """

    message: str
    """What the code means, written into each fit's ``<channel>_fit_message``."""

    def __new__(cls, value: int, message: str = "") -> FitStatus:
        member = int.__new__(cls, value)
        member._value_ = value
        member.message = message
        return member

    CONVERGED = 0, "converged"
    """A stationary point of χ² with every parameter inside its bounds and determined by the data."""
    ITERATION_LIMIT = 1, "iteration limit reached before convergence"
    """The iteration limit was reached before the convergence tests passed."""
    NOT_FINITE = 2, "not finite: the model or data gave NaN/inf, or too few valid samples"
    """The model or data gave NaN/inf, or fewer valid samples than parameters: no result."""
    AT_BOUND = 3, "at a bound: the best chi-square lies on a parameter limit"
    """The best χ² lies on a parameter bound: the optimum inside the allowed range was not found."""
    UNDETERMINED = 4, ("undetermined: a parameter is not constrained by the data, or the onset lies outside the record")
    """A scale parameter's standard error is at least its magnitude, the covariance is singular, or a
    location parameter (onset, centre) lies outside the fitted record."""
    NO_SIGNAL = 5, "no signal: the evidence for a pulse is below the false-alarm threshold"
    """The record's evidence for a pulse is below the false-alarm threshold (:mod:`idex.fit.detection`): the fit's
    numbers are withheld (NaN), its significance is kept."""

    @classmethod
    def flag_attributes(cls) -> dict[str, object]:
        """CF ``flag_values``/``flag_meanings`` attributes describing the codes."""
        return {"flag_values": [int(s) for s in cls], "flag_meanings": " ".join(s.name.lower() for s in cls)}


STATUS_MESSAGES = tuple(status.message for status in FitStatus)
"""Message of each :class:`~idex.model.quality.FitStatus` code, indexed by the code (derived from the enum)."""


class VelocityStatus(enum.IntEnum):
    """Why an impact velocity (``<target>_velocity_status``, ``ion_grid_velocity_status``) is missing; 0: it is not.

    Examples
    --------
    >>> VelocityStatus.flag_attributes([VelocityStatus.OK, VelocityStatus.NO_SUCCESSFUL_FIT])
    {'flag_values': [0, 1], 'flag_meanings': 'ok no_successful_fit'}
    """

    OK = 0
    """A velocity inside the calibrated range."""
    NO_SUCCESSFUL_FIT = 1
    """A fit the velocity needs did not succeed (or its value is missing)."""
    OUTSIDE_CALIBRATED_RANGE = 2
    """The velocity the calibration gives lies outside its calibrated range: NaN, never extrapolated."""
    NO_ROOT_IN_SEARCH_RANGE = 3
    """The rise-time curve reaches the fitted rise time at no velocity of the search range."""

    @classmethod
    def flag_attributes(cls, members: Iterable[VelocityStatus] | None = None) -> dict[str, object]:
        """CF ``flag_values``/``flag_meanings`` of ``members`` (default: every code)."""
        chosen = list(cls if members is None else members)
        return {"flag_values": [int(s) for s in chosen], "flag_meanings": " ".join(s.name.lower() for s in chosen)}


_Flags = TypeVar("_Flags", "np.ndarray", "xr.DataArray")


def without_flags(flags: _Flags, bits: QualityFlag) -> _Flags:
    """``quality_flags`` values with ``bits`` cleared, for a step that sets those bits anew (a refit, a new mass scale).

    >>> import numpy as np
    >>> without_flags(np.array([6, 1], dtype=np.uint16), QualityFlag.TRUNCATED).tolist()
    [4, 1]
    """
    import numpy as np

    return flags & np.uint16(~bits & 0xFFFF)
