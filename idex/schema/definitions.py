"""The frozen dataclasses a loaded schema is made of: fields, channels, fits, classification, the schema itself."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache, cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from idex.schema.defaults import section_defaults
from idex.schema.expressions import Expression


@dataclass(frozen=True)
class Field:
    """One fixed-width unsigned field of a packet, at a known bit offset from the packet start."""

    mnemonic: str
    name: str | None
    bits: int
    offset: int
    per_event: bool = True
    enumeration: Mapping[int, str] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned integer dtype that holds the field."""
        return _uint_dtype(self.bits)


@dataclass(frozen=True)
class Channel:
    """A waveform channel: how its samples are packed and on which time axis they sit."""

    name: str
    type_code: int
    sample_bits: int
    samples_per_word: int
    word_bits: int
    n_samples: int
    drop_trailing: int
    sample_rate_mhz: float
    dim: str
    time: str
    trigger_time: str
    fill_value: int
    compressed_samples: int | None
    calibration_factor: float | None
    calibration_units: str | None
    attrs: Mapping[str, Any]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled with ``attrs`` as a plain dict (a read-only mapping cannot be pickled), so that a model holding
        packed rows (:class:`idex.decode.waveform.PackedRows` keeps its channel) goes to dask workers."""
        return _channel, ({**{f.name: getattr(self, f.name) for f in fields(self)}, "attrs": dict(self.attrs)},)

    @property
    def words(self) -> int:
        """Number of packed words in one complete record."""
        return math.ceil((self.n_samples + self.drop_trailing) / self.samples_per_word)

    @property
    def word_bytes(self) -> int:
        """Bytes per packed word."""
        return self.word_bits // 8

    @property
    def sample_period_us(self) -> float:
        """Time between samples in microseconds."""
        return 1.0 / self.sample_rate_mhz


def _channel(values: dict[str, Any]) -> Channel:
    """A pickled :class:`Channel` again, its ``attrs`` read-only."""
    return Channel(**{**values, "attrs": MappingProxyType(values["attrs"])})


@dataclass(frozen=True)
class FitParameter:
    """Initial-guess rule, bounds and units of one fitted parameter."""

    name: str
    initial: str
    min: float
    max: float
    units: str | None


@dataclass(frozen=True)
class FitSpec:
    """How to fit one channel: model, parameters and the pre-impact baseline window."""

    channel: str
    model: str
    baseline_us: tuple[float, float]
    parameters: tuple[FitParameter, ...]
    false_alarm_probability: float = 1e-3
    """Probability per record that noise alone is called a pulse: sets the evidence threshold of
    :mod:`idex.fit.detection` below which the channel holds no signal."""

    @property
    def positive(self) -> bool:
        """True when the amplitude is bounded below by zero (the pulse sign is known)."""
        return any(p.name == "amplitude" and p.min >= 0 for p in self.parameters)


@dataclass(frozen=True)
class PeakSearch:
    """How :func:`idex.science.line_pairing.peak_times` finds a TOF spectrum's peaks (the schema's ``mass`` section;
    :meth:`shipped` gives the meta-schema's defaults)."""

    prominence_sigma: float
    """Smallest prominence in robust noise standard deviations of the pre-trigger samples."""
    prominence_fraction: float
    """Smallest prominence as a fraction of the spectrum's largest (smoothed) value."""
    separation_us: float
    """Closest two peaks (µs; at least 3 samples)."""
    smoothing_samples: int
    """Width of the running mean the peaks are searched on (samples)."""

    @classmethod
    def shipped(cls) -> PeakSearch:
        """The meta-schema's defaults (``schemas/_meta.schema.json``), which the shipped schemas use."""
        given = section_defaults("mass")
        return cls(
            float(given["peak_prominence_sigma"]),
            float(given["peak_prominence_fraction"]),
            float(given["peak_separation_us"]),
            int(given["peak_smoothing_samples"]),
        )


@dataclass(frozen=True)
class MassSpec:
    """Where to look for the TOF to mass calibration of :func:`idex.science.mass.mass`."""

    channel: str
    lines: str
    stretch_us_per_sqrt_u: tuple[float, float]
    shift_from_trigger_us: tuple[float, float]
    baseline_before_trigger_us: float
    match_tolerance_us: float
    stretch_prior: tuple[float, float] | None = None
    """Campaign stretch and its spread (µs/√u): an instrument property that every event must agree with."""
    prior_sigmas: float = field(default_factory=lambda: float(section_defaults("mass")["prior_sigmas"]))
    """Largest distance, in combined standard deviations, of an event's own stretch from the prior."""
    peaks: PeakSearch = field(default_factory=PeakSearch.shipped)
    """Thresholds of the peak search."""


@dataclass(frozen=True)
class CompositionSpec:
    """The TOF gains joined into one spectrum and the composition analysis (:mod:`idex.science.composition`)."""

    gains: tuple[str, ...]
    """TOF channels, highest gain first; their nominal ratios are their calibration factors' ratios."""
    saturation_dn: tuple[float, float]
    """Samples at or beyond these raw values are clipped (the ADC's usable range)."""
    guard_samples: int
    """Samples on each side of a clipped run also taken from the next gain (recovery of the amplifier)."""
    baseline_before_trigger_us: float
    ratio_min_sigma: float
    """Samples of the higher gain above this many noise sigmas measure the gain ratio."""
    ratio_tolerance: float
    """Largest relative difference of a measured gain ratio from the nominal one before it is flagged."""
    lines: str
    rsf: str
    line_sigma_us: float
    line_tau_us: tuple[float, float]
    """Decay time of the EMG line shape: ``a + b * mass`` (µs, µs/u)."""
    line_shape_spread: float
    """Relative standard deviation of the width and of the decay time from line to line."""
    detection_sigma: float
    resolution_samples: float
    """Lines closer than this (in samples) on the time axis cannot be told apart: they are fitted as one."""


@dataclass(frozen=True)
class DustSpec:
    """Thresholds and windows of the dust-hit test (:mod:`idex.model.classify`), TOF gains highest first."""

    channels: tuple[str, ...]
    baseline_us: float
    height_sigma: float
    prominence_sigma: float
    distance_us: float
    min_width_us: float
    min_peaks: int
    single_peak_width_us: float
    match_us: float
    reference_baseline_dn: tuple[float, ...]
    reference_sigma_dn: tuple[float, ...]
    truncation_dn: float


@dataclass(frozen=True)
class ClassificationSpec:
    """Where the trigger information sits and the rules that call an event dust, noise or pulser."""

    trigger_id: str
    trigger_bits: Mapping[str, int]
    software_bits: tuple[int, ...]
    trigger_modes: Mapping[str, str]
    pulser_channel: str
    pulser_mode: int
    pulser_threshold_field: str
    pulser_threshold: int
    saturation_fraction: float
    dust: DustSpec


@dataclass(frozen=True)
class MessageSpec:
    """Layout of the instrument's event-message packets and where their text dictionaries are."""

    apid: int
    fields: tuple[Field, ...]
    coarse: str
    fine: str
    id: str
    dictionaries: Path

    @property
    def length(self) -> int:
        """Bytes a packet needs to hold every declared field."""
        return (self.fields[-1].offset + self.fields[-1].bits) // 8


@dataclass(frozen=True)
class Derived:
    """A quantity computed from header fields, constants and earlier derived quantities."""

    name: str
    expression: Expression
    dtype: np.dtype | None
    enumeration: Mapping[int, str]
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class Conversion:
    """Raw DN to engineering units: exactly one of polynomial, enumeration or lookup table."""

    polynomial: tuple[float, ...] | None = None
    enumeration: Mapping[int, str] | None = None
    lookup: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Convert raw values; enumerations keep the raw integer (labels go into attributes)."""
        if self.polynomial is not None:
            return np.polynomial.polynomial.polyval(raw.astype(np.float64), self.polynomial)
        if self.lookup is not None:
            return np.interp(raw.astype(np.float64), self.lookup[0], self.lookup[1])
        return raw


@dataclass(frozen=True)
class Housekeeping:
    """One ADC channel packed inside a header word, with its conversion to engineering units."""

    name: str
    word: str
    lsb: int
    bits: int
    conversion: Conversion
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class Schema:
    """A validated packet schema (see the module docstring and ``docs/schema.md``)."""

    name: str
    description: str
    source: Path
    xtce: Path | None
    valid_from: np.datetime64
    valid_until: np.datetime64 | None
    constants: Mapping[str, float]
    known_apids: frozenset[int]
    crc_apids: frozenset[int]
    secondary_header: tuple[Field, ...]
    met_epoch: np.datetime64
    fine_tick_s: float
    event_coarse: Expression
    event_fine: Expression
    packet_coarse: str
    packet_fine: str
    science_apid: int
    trailer_bits: int
    fragment_offset_unit_bytes: int
    roles: Mapping[str, str]
    subheader: tuple[Field, ...]
    header_type_code: int
    header_fields: tuple[Field, ...]
    channels: Mapping[str, Channel]
    derived: tuple[Derived, ...]
    housekeeping: tuple[Housekeeping, ...]
    fits: Mapping[str, FitSpec]
    mass: MassSpec | None
    messages: MessageSpec | None
    cdf_global_attributes: Mapping[str, str]
    attrs: Mapping[str, Any]
    classification: ClassificationSpec | None = None
    composition: CompositionSpec | None = None
    text: str = ""
    """The YAML document the schema was built from (embedded in every dataset decoded with it)."""

    @property
    def sha256(self) -> str:
        """Content hash of :attr:`text`: the identity of a schema, whatever its name or location."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def header_packet_bytes(self) -> int:
        """Length of an event-header packet: the header fields and the trailer."""
        return self.header_end + self.trailer_bits // 8

    @property
    def payload_offset(self) -> int:
        """Byte offset of the waveform payload (end of the sub-header) from the packet start."""
        return (self.subheader[-1].offset + self.subheader[-1].bits) // 8

    @property
    def header_end(self) -> int:
        """Byte offset of the end of the event-header fields from the packet start."""
        last = self.header_fields[-1]
        return (last.offset + last.bits) // 8

    @cached_property
    def channel_by_type(self) -> Mapping[int, Channel]:
        """Channels keyed by their packet type code."""
        return MappingProxyType({c.type_code: c for c in self.channels.values()})

    @property
    def packet_time_fields(self) -> tuple[Field, Field]:
        """Secondary-header fields holding the packet's coarse and fine MET."""
        by_name = {f.name: f for f in self.secondary_header}
        return by_name[self.packet_coarse], by_name[self.packet_fine]

    def subheader_field(self, role: str) -> Field:
        """The sub-header field playing ``role`` (e.g. ``"event_number"``)."""
        name = self.roles[role]
        return next(f for f in self.subheader if f.name == name)

    def covers(self, when: np.datetime64) -> bool:
        """True when ``when`` lies inside the schema's validity range."""
        if when < self.valid_from:
            return False
        return self.valid_until is None or bool(when < self.valid_until)


@cache  # asked for every field of every decode
def _uint_dtype(bits: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.iinfo(dtype).bits:
            return np.dtype(dtype)
    raise ValueError(f"{bits} bits do not fit an unsigned integer")
