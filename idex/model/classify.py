"""Dust, noise or pulser, and which channels saturated: the mission's event classification, explained.

The rules are the mission pipeline's (imap-processing 1.0.40, ``idex_event_flags.py``); every threshold,
window, reference baseline and trigger bit comes from the schema's ``classification`` section, so an
analyst tunes them in a copy of the schema, not here.

- **Event type** (vectorised): the *active* channels are those whose trigger-id bit is set, plus each TOF
  gain whose trigger mode is not 0. No active channel, or a software/external trigger with only TOF High
  active, is a **noise capture**; only TOF High active with the pulser's mode and threshold is the
  **pulser**; everything else is a **science event**.
- **Saturation** (vectorised): a channel saturated when a finite sample reaches the configured fraction of
  its full scale.
- **Dust hit** (science events only, compiled in :mod:`idex.model.dust_test`, peak positions exactly as
  ``scipy.signal.find_peaks`` gives them, as the mission does): on each TOF gain, baseline and robust noise
  from the first microseconds, peaks above height and prominence thresholds, saturated runs merged to one
  peak, each peak's full width at half maximum measured on the highest gain where it is not saturated.
  Blocks of events run in parallel threads (:mod:`idex.threads`). Dust when one gain has at least
  ``min_peaks`` peaks of at least ``min_width_us``, or the high gain has a single peak of at least
  ``single_peak_width_us``; failing that, gains whose baseline was cut off (far from its reference) are
  re-tested with the reference baseline and noise.

Besides the ten flags, the quantities behind each decision are returned (baseline, noise, qualifying peaks
and the widest peak per gain, active channels, which rule decided), so a decision can be checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numba
import numpy as np
import xarray as xr

from idex.exceptions import MissingKeyError
from idex.model.dust_test import DustParameters, dust_test
from idex.model.waveform_rows import WaveformRows, event_column
from idex.schema import ClassificationSpec, DustSpec, Schema
from idex.threads import blocks, run_blocks

__all__ = ["DECIDED_BY", "classify", "dust_hits"]

UNKNOWN = np.uint8(255)
"""Flag value of events without a header packet (the trigger information is missing)."""

_KINDS = ("science", "noise", "pulser")
"""Event types, coded by their position in this tuple."""

DECIDED_BY = (
    "not_science",
    "not_dust",
    "two_peaks_in_one_gain",
    "single_wide_high_gain_peak",
    "two_peaks_after_truncated_baseline",
)
"""Meanings of ``dust_decided_by`` (its values are the positions in this tuple)."""


def classify(ds: xr.Dataset, schema: Schema, waveforms: Mapping[str, WaveformRows] | None = None) -> dict[str, tuple]:
    """The ten mission flags and the quantities behind them, for every event of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model (raw waveforms in counts, trigger fields, time coordinates).
    schema : Schema
        Schema with a ``classification`` section.
    waveforms : mapping, optional
        The raw waveforms as decoding stored them (:class:`~idex.model.waveform_rows.WaveformRows`), so that
        events without a channel cost nothing; by default those of ``ds``.

    Returns
    -------
    dict
        ``name -> (dims, values, attrs)`` for ``xarray.Dataset.assign``.
    """
    spec = schema.classification
    assert spec is not None
    n = ds.sizes["event"]
    out: dict[str, tuple] = {}
    has_header = np.isfinite(ds[schema.channels[spec.dust.channels[0]].trigger_time].values)
    kinds, active, software = _event_types(ds, spec)
    names = {"science": "science_event_flag", "noise": "noise_capture_flag", "pulser": "pulser_flag"}
    for kind, name in names.items():
        values = np.where(has_header, (kinds == _KINDS.index(kind)).astype(np.uint8), UNKNOWN)
        out[name] = (
            "event",
            values,
            _flag_attrs(
                f"The event is a {kind.replace('science', 'science (real)')} event by the mission's trigger rules"
            ),
        )
    out["active_channels"] = (
        "event",
        active.astype(np.uint8),
        {
            "long_name": "Channels active in the trigger (trigger-id bits and non-zero TOF trigger modes)",
            "flag_masks": [1 << i for i in range(len(spec.trigger_bits))],
            "flag_meanings": " ".join(spec.trigger_bits),
        },
    )
    out["software_trigger"] = (
        "event",
        software.astype(np.uint8),
        {"long_name": "Software or external trigger", "flag_values": [0, 1]},
    )
    if waveforms is None:
        waveforms = {
            c.name: WaveformRows.dense(ds[c.name].values, c.fill_value)
            for c in schema.channels.values()
            if c.name in ds
        }
    for channel in schema.channels.values():
        if channel.name not in waveforms:
            continue
        limit = spec.saturation_fraction * (2**channel.sample_bits - 1)
        stored = waveforms[channel.name]
        saturated = np.zeros(n, np.uint8)  # a row of fill values never saturates
        saturated[stored.rows] = _saturated_rows(stored, limit)
        out[f"{channel.name}_saturation_flag"] = (
            "event",
            saturated,
            _flag_attrs(f"{channel.name} reached {spec.saturation_fraction:.0%} of full scale ({limit:.2f} DN)"),
        )
    gains = spec.dust.channels
    channel = schema.channels[gains[0]]
    tested = np.flatnonzero(has_header & (kinds == _KINDS.index("science")))
    tof = tuple(waveforms[g] for g in gains)
    fills = np.array([schema.channels[g].fill_value for g in gains], np.float64)
    limits = np.array([spec.saturation_fraction * (2 ** schema.channels[g].sample_bits - 1) for g in gains])
    clock, trigger = ds[channel.time].values.astype(np.float64), ds[channel.trigger_time].values.astype(np.float64)
    references = (
        np.array(spec.dust.reference_baseline_dn, np.float64),
        np.array(spec.dust.reference_sigma_dn, np.float64),
    )

    def test_block(start: int, stop: int) -> tuple[np.ndarray, ...]:  # events without data share one fill row
        rows = tested[start:stop]
        arrays, index = zip(*(w.gather(rows) for w in tof), strict=True)
        return dust_test(
            arrays, fills, limits, clock, trigger[rows], np.stack(index), _parameters(spec.dust), *references
        )

    untested = (np.zeros(0, np.int8), *(np.zeros((0, len(gains))),) * 4)  # no call: its work arrays cost ~1 MB
    parts = run_blocks(test_block, blocks(tested.size, minimum=32)) if tested.size else [untested]
    rule, baseline, sigma, qualifying, widest = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    dust = np.where(has_header, 0, UNKNOWN).astype(np.uint8)
    dust[tested] = rule >= 2
    decided = np.zeros(n, np.int8)
    decided[tested] = rule
    why = {}  # known for the tested events only: the others cost nothing unless they are few
    for index, g in enumerate(gains):
        for name, values, dtype, fill in (
            ("dust_baseline", baseline, np.float64, np.nan),
            ("dust_noise", sigma, np.float64, np.nan),
            ("dust_peaks", qualifying, np.int16, 0),
            ("widest_peak", widest, np.float64, np.nan),
        ):
            why[f"{g}_{name}"] = event_column(values[:, index].astype(dtype), tested, n, fill)
    out["dust_hit_flag"] = ("event", dust, _flag_attrs("The TOF waveforms look like a dust impact (mission rule)"))
    out["dust_decided_by"] = (
        "event",
        decided,
        {
            "long_name": "Which rule decided the dust test",
            "flag_values": list(range(len(DECIDED_BY))),
            "flag_meanings": " ".join(DECIDED_BY),
        },
    )
    for g in gains:
        out[f"{g}_dust_baseline"] = (
            "event",
            why[f"{g}_dust_baseline"],
            {
                "long_name": f"{g} baseline of the dust test (median of the first {spec.dust.baseline_us} us)",
                "units": "dN",
            },
        )
        out[f"{g}_dust_noise"] = (
            "event",
            why[f"{g}_dust_noise"],
            {"long_name": f"{g} noise of the dust test (1.4826 MAD)", "units": "dN"},
        )
        out[f"{g}_dust_peaks"] = (
            "event",
            why[f"{g}_dust_peaks"],
            {"long_name": f"{g} peaks at least {spec.dust.min_width_us} us wide in the deciding pass"},
        )
        out[f"{g}_widest_peak"] = (
            "event",
            why[f"{g}_widest_peak"],
            {"long_name": f"{g} widest peak (FWHM, on the highest unsaturated gain)", "units": "us"},
        )
    return out


def _saturated_rows(stored: WaveformRows, limit: float) -> np.ndarray:
    """1 for each stored row with a sample other than the fill value at or above ``limit``, blocks in parallel
    (one after the other when rows are unpacked on reading: their blocks are short and many)."""
    raw, fill = stored.samples, stored.fill_value
    if not isinstance(raw, np.ndarray):
        return np.concatenate(
            [_rows_reaching(raw[a:b], limit, fill) for a, b in stored.blocks()] or [np.zeros(0, np.uint8)]
        )
    parts = run_blocks(lambda start, stop: _rows_reaching(raw[start:stop], limit, fill), stored.blocks())
    return np.concatenate(parts)


@numba.njit(cache=True, nogil=True)
def _rows_reaching(raw: np.ndarray, limit: float, fill: int) -> np.ndarray:
    """1 for each row with a sample (other than the fill value) at or above ``limit``; stops at the first."""
    out = np.zeros(raw.shape[0], np.uint8)
    for row in range(raw.shape[0]):
        for value in raw[row]:
            if value >= limit and value != fill:
                out[row] = 1
                break
    return out


def _flag_attrs(long_name: str) -> dict[str, object]:
    return {"long_name": long_name, "flag_values": [0, 1, int(UNKNOWN)], "flag_meanings": "no yes no_event_header"}


def _event_types(ds: xr.Dataset, spec: ClassificationSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event type (its position in ``_KINDS``), active-channel bitmask and software flag per event."""
    trigger = np.nan_to_num(ds[spec.trigger_id].values.astype(np.float64)).astype(np.int64)
    order = list(spec.trigger_bits)
    active = np.zeros(trigger.size, np.int64)
    for index, bit in enumerate(spec.trigger_bits.values()):
        active |= ((trigger >> bit) & 1) << index
    for channel, field in spec.trigger_modes.items():
        active |= (np.nan_to_num(ds[field].values.astype(np.float64)) != 0).astype(np.int64) << order.index(channel)
    software = np.zeros(trigger.size, bool)
    for bit in spec.software_bits:
        software |= ((trigger >> bit) & 1) == 1
    only_pulser_channel = active == (1 << order.index(spec.pulser_channel))
    mode = ds[spec.trigger_modes[spec.pulser_channel]].values
    threshold = ds[spec.pulser_threshold_field].values
    noise = (active == 0) | (software & only_pulser_channel)
    pulser = ~noise & only_pulser_channel & (mode == spec.pulser_mode) & (threshold == spec.pulser_threshold)
    kinds = np.full(trigger.size, _KINDS.index("science"), np.uint8)  # codes: one byte per event, not a string
    kinds[pulser] = _KINDS.index("pulser")
    kinds[noise] = _KINDS.index("noise")
    return kinds, active, software


def _parameters(dust: DustSpec) -> DustParameters:
    return (
        dust.baseline_us,
        dust.height_sigma,
        dust.prominence_sigma,
        dust.distance_us,
        dust.min_width_us,
        int(dust.min_peaks),
        dust.single_peak_width_us,
        dust.match_us,
        dust.truncation_dn,
    )


def dust_hits(ds: xr.Dataset) -> xr.Dataset:
    """The dust hits of ``ds`` only: events whose ``dust_hit_flag`` is 1 (the mission's rule, ``ds.idex.dust()``).

    Raises
    ------
    MissingKeyError
        If ``ds`` has no ``dust_hit_flag`` (decoded with a schema without a classification section).

    Examples
    --------
    >>> import idex
    >>> dust_hits(idex.open_raw(idex.testing.sample_capture(), group="events")).sizes["event"]
    10
    """
    if "dust_hit_flag" not in ds:
        raise MissingKeyError("no dust_hit_flag: decode with a schema that has a classification section")
    return ds.isel(event=ds["dust_hit_flag"].values == 1)
