"""Test-only LeCroy .trc writer (template LECROY_2_3), checked against the real files in tests/data/lecroy."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np

from idex.io.trc import _DESCRIPTOR, DESCRIPTOR_BYTES, TrcHeader


def descriptor_bytes(values: dict, order: str) -> bytes:
    dtype = np.dtype(
        {
            "names": [f[0] for f in _DESCRIPTOR],
            "formats": [order + f[2] for f in _DESCRIPTOR],
            "offsets": [f[1] for f in _DESCRIPTOR],
            "itemsize": DESCRIPTOR_BYTES,
        }
    )
    record = np.zeros(1, dtype=dtype)
    for name, _, kind in _DESCRIPTOR:
        value = values[name]
        record[name] = value.encode("ascii") if kind.startswith("S") else value
    return record.tobytes()


def write_trc(
    path: Path,
    header: TrcHeader,
    raw: np.ndarray,
    *,
    trigger_times=None,
    trigger_offsets=None,
    scpi_prefix: bool = True,
) -> Path:
    """Write ``raw`` samples (``(segments, points)`` integers) with the descriptor values of ``header``."""
    values = {f.name: getattr(header, f.name) for f in fields(header)}
    raw = np.atleast_2d(raw)
    order = header.byte_order
    samples = raw.astype(f"{order}i{2 if header.comm_type == 1 else 1}").tobytes()
    table = b""
    if raw.shape[0] > 1 or trigger_times is not None:
        pairs = np.column_stack([trigger_times, trigger_offsets]).astype(f"{order}f8")
        table = pairs.tobytes()
    values.update(
        wave_array_1=len(samples),
        wave_array_count=raw.size,
        trigtime_array=len(table),
        subarray_count=raw.shape[0],
        user_text=0,
        ris_time_array=0,
        res_desc1=0,
    )
    body = descriptor_bytes(values, order) + table + samples
    prefix = f"#9{len(body):09d}".encode() if scpi_prefix else b""
    path.write_bytes(prefix + body)
    return path


def synthetic_header(
    *,
    points: int,
    interval_s: float,
    offset_s: float,
    gain: float,
    offset_v: float,
    channel: int,
    trigger: np.datetime64,
) -> TrcHeader:
    """A plausible LECROY_2_3 descriptor for synthetic traces (16-bit little-endian samples)."""
    when = trigger.astype("datetime64[us]").item()
    return TrcHeader(
        descriptor_name="WAVEDESC",
        template_name="LECROY_2_3",
        comm_type=1,
        comm_order=1,
        wave_descriptor=346,
        user_text=0,
        res_desc1=0,
        trigtime_array=0,
        ris_time_array=0,
        res_array1=0,
        wave_array_1=2 * points,
        wave_array_2=0,
        res_array2=0,
        res_array3=0,
        instrument_name="LECROYWR64Xi-A",
        instrument_number=1,
        trace_label="",
        wave_array_count=points,
        pnts_per_screen=points,
        first_valid_pnt=0,
        last_valid_pnt=points - 1,
        first_point=0,
        sparsing_factor=1,
        segment_index=0,
        subarray_count=1,
        sweeps_per_acq=1,
        points_per_pair=0,
        pair_offset=0,
        vertical_gain=gain,
        vertical_offset=offset_v,
        max_value=32767 * gain,
        min_value=-32768 * gain,
        nominal_bits=8,
        nom_subarray_count=1,
        horiz_interval=interval_s,
        horiz_offset=offset_s,
        pixel_offset=offset_s,
        vertunit="V",
        horunit="S",
        horiz_uncertainty=1e-12,
        trigger_seconds=when.second + when.microsecond * 1e-6,
        trigger_minutes=when.minute,
        trigger_hours=when.hour,
        trigger_day=when.day,
        trigger_month=when.month,
        trigger_year=when.year,
        acq_duration=0.0,
        record_type=0,
        processing_done=0,
        ris_sweeps=1,
        timebase=16,
        vert_coupling=0,
        probe_att=1.0,
        fixed_vert_gain=14,
        bandwidth_limit=0,
        vertical_vernier=1.0,
        acq_vert_offset=0.0,
        wave_source=channel - 1,
        wavedesc_offset=11,
    )
