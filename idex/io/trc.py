"""LeCroy ``.trc`` waveform files (template LECROY_2_3): descriptor, sequence segments and samples.

Written here rather than taken from a public reader because those get facts wrong that matter for
timing (ALGORITHMS §5): a time axis starting at index 1, the byte count used as the sample count,
sequence segments ignored, byte order flags read in native order, truncated trigger microseconds.
This reader parses the 346-byte descriptor with one NumPy structured dtype in the file's own byte
order, reads the samples with one ``np.frombuffer`` (memory-mapped file, no per-sample Python), and
applies volts = gain·raw − offset and t_i = interval·i + offset (i from 0; per segment in sequence
mode). Truncated or foreign files raise :class:`TrcError` naming the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from idex._typing import PathLike
from idex.exceptions import TrcError

__all__ = ["Trace", "TrcError", "TrcHeader", "read_trc"]

_DESCRIPTOR = [  # (name, offset, numpy type) relative to "WAVEDESC"
    ("descriptor_name", 0, "S16"),
    ("template_name", 16, "S16"),
    ("comm_type", 32, "i2"),
    ("comm_order", 34, "i2"),
    ("wave_descriptor", 36, "i4"),
    ("user_text", 40, "i4"),
    ("res_desc1", 44, "i4"),
    ("trigtime_array", 48, "i4"),
    ("ris_time_array", 52, "i4"),
    ("res_array1", 56, "i4"),
    ("wave_array_1", 60, "i4"),
    ("wave_array_2", 64, "i4"),
    ("res_array2", 68, "i4"),
    ("res_array3", 72, "i4"),
    ("instrument_name", 76, "S16"),
    ("instrument_number", 92, "i4"),
    ("trace_label", 96, "S16"),
    ("wave_array_count", 116, "i4"),
    ("pnts_per_screen", 120, "i4"),
    ("first_valid_pnt", 124, "i4"),
    ("last_valid_pnt", 128, "i4"),
    ("first_point", 132, "i4"),
    ("sparsing_factor", 136, "i4"),
    ("segment_index", 140, "i4"),
    ("subarray_count", 144, "i4"),
    ("sweeps_per_acq", 148, "i4"),
    ("points_per_pair", 152, "i2"),
    ("pair_offset", 154, "i2"),
    ("vertical_gain", 156, "f4"),
    ("vertical_offset", 160, "f4"),
    ("max_value", 164, "f4"),
    ("min_value", 168, "f4"),
    ("nominal_bits", 172, "i2"),
    ("nom_subarray_count", 174, "i2"),
    ("horiz_interval", 176, "f4"),
    ("horiz_offset", 180, "f8"),
    ("pixel_offset", 188, "f8"),
    ("vertunit", 196, "S48"),
    ("horunit", 244, "S48"),
    ("horiz_uncertainty", 292, "f4"),
    ("trigger_seconds", 296, "f8"),
    ("trigger_minutes", 304, "i1"),
    ("trigger_hours", 305, "i1"),
    ("trigger_day", 306, "i1"),
    ("trigger_month", 307, "i1"),
    ("trigger_year", 308, "i2"),
    ("acq_duration", 312, "f4"),
    ("record_type", 316, "i2"),
    ("processing_done", 318, "i2"),
    ("ris_sweeps", 322, "i2"),
    ("timebase", 324, "i2"),
    ("vert_coupling", 326, "i2"),
    ("probe_att", 328, "f4"),
    ("fixed_vert_gain", 332, "i2"),
    ("bandwidth_limit", 334, "i2"),
    ("vertical_vernier", 336, "f4"),
    ("acq_vert_offset", 340, "f4"),
    ("wave_source", 344, "i2"),
]
DESCRIPTOR_BYTES = 346
_RECORD_TYPES = (
    "single_sweep",
    "interleaved",
    "histogram",
    "graph",
    "filter_coefficient",
    "complex",
    "extrema",
    "sequence_obsolete",
    "centered_RIS",
    "peak_detect",
)
_COUPLINGS = ("DC 50 Ohm", "ground", "DC 1 MOhm", "ground", "AC 1 MOhm")
_PROCESSING = (
    "no_processing",
    "fir_filter",
    "interpolated",
    "sparsed",
    "autoscaled",
    "no_result",
    "rolling",
    "cumulative",
)


@dataclass(frozen=True)
class TrcHeader:
    """The full wave descriptor, typed, plus the decoded enumerations and trigger time."""

    descriptor_name: str
    template_name: str
    comm_type: int
    comm_order: int
    wave_descriptor: int
    user_text: int
    res_desc1: int
    trigtime_array: int
    ris_time_array: int
    res_array1: int
    wave_array_1: int
    wave_array_2: int
    res_array2: int
    res_array3: int
    instrument_name: str
    instrument_number: int
    trace_label: str
    wave_array_count: int
    pnts_per_screen: int
    first_valid_pnt: int
    last_valid_pnt: int
    first_point: int
    sparsing_factor: int
    segment_index: int
    subarray_count: int
    sweeps_per_acq: int
    points_per_pair: int
    pair_offset: int
    vertical_gain: float
    vertical_offset: float
    max_value: float
    min_value: float
    nominal_bits: int
    nom_subarray_count: int
    horiz_interval: float
    horiz_offset: float
    pixel_offset: float
    vertunit: str
    horunit: str
    horiz_uncertainty: float
    trigger_seconds: float
    trigger_minutes: int
    trigger_hours: int
    trigger_day: int
    trigger_month: int
    trigger_year: int
    acq_duration: float
    record_type: int
    processing_done: int
    ris_sweeps: int
    timebase: int
    vert_coupling: int
    probe_att: float
    fixed_vert_gain: int
    bandwidth_limit: int
    vertical_vernier: float
    acq_vert_offset: float
    wave_source: int
    wavedesc_offset: int

    @property
    def byte_order(self) -> str:
        """``"<"`` (LOFIRST) or ``">"`` (HIFIRST)."""
        return "<" if self.comm_order == 1 else ">"

    @property
    def sample_dtype(self) -> np.dtype:
        """int8 (COMM_TYPE 0) or int16 in the file's byte order."""
        return np.dtype(f"{self.byte_order}i{2 if self.comm_type == 1 else 1}")

    @property
    def n_samples(self) -> int:
        """Samples in WAVE_ARRAY_1 (bytes divided by the sample size)."""
        return self.wave_array_1 // self.sample_dtype.itemsize

    @property
    def segments(self) -> int:
        """Segments (1 for a single sweep)."""
        return max(1, self.subarray_count) if self.trigtime_array else 1

    @property
    def data_offset(self) -> int:
        """Byte offset of WAVE_ARRAY_1 in the file."""
        return self.wavedesc_offset + self.wave_descriptor + self.user_text + self.trigtime_array + self.ris_time_array

    @property
    def trigger_time(self) -> np.datetime64:
        """Trigger time stamp with the full sub-second precision (ns); NaT when the stamp is not a valid time."""
        if not (
            np.isfinite(self.trigger_seconds)
            and 0 <= self.trigger_seconds < 61
            and 1 <= self.trigger_month <= 12
            and 1 <= self.trigger_day <= 31
            and 0 <= self.trigger_hours < 24
            and 0 <= self.trigger_minutes < 60
            and 0 < self.trigger_year < 10000
        ):
            return np.datetime64("NaT", "ns")
        whole = int(self.trigger_seconds)
        try:
            day = np.datetime64(f"{self.trigger_year:04d}-{self.trigger_month:02d}-{self.trigger_day:02d}", "ns")
        except ValueError:  # e.g. 31 February
            return np.datetime64("NaT", "ns")
        return (
            day
            + np.timedelta64(self.trigger_hours * 3600 + self.trigger_minutes * 60 + whole, "s")
            + np.timedelta64(int(round((self.trigger_seconds - whole) * 1e9)), "ns")
        )

    @property
    def record_type_name(self) -> str:
        """RECORD_TYPE as text."""
        return _RECORD_TYPES[self.record_type] if 0 <= self.record_type < len(_RECORD_TYPES) else "unknown"

    @property
    def coupling(self) -> str:
        """VERT_COUPLING as text."""
        return _COUPLINGS[self.vert_coupling] if 0 <= self.vert_coupling < len(_COUPLINGS) else "unknown"

    @property
    def timebase_text(self) -> str:
        """TIMEBASE as text, e.g. ``"200 ns / div"`` (1-2-5 steps from 1 ps/div; 100 = external)."""
        if self.timebase == 100:
            return "external"
        mantissa = (1, 2, 5)[self.timebase % 3]
        exponent = self.timebase // 3  # decades above 1 ps
        for unit, decades in (("ks", 15), ("s", 12), ("ms", 9), ("us", 6), ("ns", 3), ("ps", 0)):
            if exponent >= decades:
                return f"{mantissa * 10 ** (exponent - decades)} {unit} / div"
        return "unknown"

    @property
    def source_channel(self) -> str:
        """WAVE_SOURCE as ``C1``..``C4`` (or ``unknown``)."""
        return f"C{self.wave_source + 1}" if 0 <= self.wave_source <= 3 else "unknown"


@dataclass(frozen=True)
class Trace:
    """A trace: header, per-segment trigger times/offsets, and the samples in volts."""

    path: Path
    header: TrcHeader
    trigger_times: np.ndarray  # (segments,) seconds since the first segment's trigger (sequence mode)
    trigger_offsets: np.ndarray  # (segments,) seconds from each segment's trigger to its first sample
    volts: np.ndarray  # (segments, points)

    @property
    def times(self) -> np.ndarray:
        """Seconds from each segment's trigger, ``(segments, points)``: ``interval·i + offset``, i from 0."""
        index = np.arange(self.volts.shape[1])
        return self.header.horiz_interval * index[None, :] + self.trigger_offsets[:, None]


def _read_header(buffer: bytes | np.ndarray, path: Path) -> TrcHeader:
    start = bytes(buffer[:64]).find(b"WAVEDESC")
    if start < 0:
        raise TrcError(f"{path}: not a LeCroy trace (no WAVEDESC in the first 64 bytes)")
    if len(buffer) < start + DESCRIPTOR_BYTES:
        raise TrcError(
            f"{path}: truncated: the descriptor needs {start + DESCRIPTOR_BYTES} bytes, the file has {len(buffer)}"
        )
    order = "<" if int.from_bytes(buffer[start + 34 : start + 36], "little") == 1 else ">"
    dtype = np.dtype(
        {
            "names": [f[0] for f in _DESCRIPTOR],
            "formats": [order + f[2] for f in _DESCRIPTOR],
            "offsets": [f[1] for f in _DESCRIPTOR],
            "itemsize": DESCRIPTOR_BYTES,
        }
    )
    record = np.frombuffer(buffer, dtype=dtype, count=1, offset=start)[0]
    values: dict[str, Any] = {}
    for name, _, kind in _DESCRIPTOR:
        value = record[name]
        values[name] = (
            value.split(b"\0", 1)[0].decode("ascii", "replace").strip() if kind.startswith("S") else value.item()
        )
    if not values["template_name"].startswith("LECROY_2"):
        raise TrcError(f"{path}: unsupported template {values['template_name']!r} (expected LECROY_2_x)")
    if values["comm_type"] not in (0, 1):
        raise TrcError(f"{path}: COMM_TYPE {values['comm_type']} is neither 0 (byte) nor 1 (word)")
    if values["wave_descriptor"] < DESCRIPTOR_BYTES:
        raise TrcError(
            f"{path}: WAVE_DESCRIPTOR {values['wave_descriptor']} is shorter than the "
            f"{DESCRIPTOR_BYTES}-byte descriptor of the LECROY_2 template"
        )
    for block in ("user_text", "trigtime_array", "ris_time_array", "wave_array_1", "subarray_count"):
        if values[block] < 0:
            raise TrcError(f"{path}: {block.upper()} is negative ({values[block]})")
    if values["trigtime_array"] and values["trigtime_array"] != 16 * max(1, values["subarray_count"]):
        raise TrcError(
            f"{path}: TRIGTIME_ARRAY of {values['trigtime_array']} bytes does not hold 16 bytes for each "
            f"of the {values['subarray_count']} segments"
        )
    if not np.isfinite(values["horiz_interval"]) or values["horiz_interval"] <= 0:
        raise TrcError(f"{path}: HORIZ_INTERVAL {values['horiz_interval']} is not a sample interval")
    return TrcHeader(**values, wavedesc_offset=start)


@overload
def read_trc(path: PathLike, *, header_only: Literal[False] = False) -> Trace: ...


@overload
def read_trc(path: PathLike, *, header_only: Literal[True]) -> TrcHeader: ...


@overload
def read_trc(path: PathLike, *, header_only: bool) -> Trace | TrcHeader: ...


def read_trc(path: PathLike, *, header_only: bool = False) -> Trace | TrcHeader:
    """Read a LeCroy ``.trc`` file.

    Parameters
    ----------
    path : str or path
        The file.
    header_only : bool
        Return only the :class:`TrcHeader` (reads the first few hundred bytes).

    Returns
    -------
    Trace or TrcHeader

    Raises
    ------
    TrcError
        For a foreign or truncated file, naming the file and what is wrong.
    """
    path = Path(path)
    try:
        return _read(path, header_only)
    except TrcError:
        raise
    except (ValueError, OverflowError, ZeroDivisionError, IndexError, TypeError, MemoryError) as error:
        raise TrcError(f"{path}: corrupted descriptor ({type(error).__name__}: {error})") from error


def _read(path: Path, header_only: bool) -> Trace | TrcHeader:
    if header_only:
        with path.open("rb") as handle:
            return _read_header(handle.read(64 + DESCRIPTOR_BYTES), path)
    size = path.stat().st_size
    if size == 0:
        raise TrcError(f"{path}: empty file")
    buffer = np.memmap(path, dtype=np.uint8, mode="r")
    header = _read_header(buffer, path)
    end = header.data_offset + header.wave_array_1
    if size < end:
        raise TrcError(
            f"{path}: truncated: the descriptor announces {end} bytes of descriptor and data, the file has {size}"
        )
    segments = header.segments
    if header.n_samples % segments:
        raise TrcError(f"{path}: {header.n_samples} samples do not split into {segments} equal segments")
    if header.trigtime_array:
        table = np.frombuffer(
            buffer,
            dtype=f"{header.byte_order}f8",
            count=2 * segments,
            offset=header.wavedesc_offset + header.wave_descriptor + header.user_text,
        )
        trigger_times, offsets = table[0::2].copy(), table[1::2].copy()
    else:
        trigger_times, offsets = np.zeros(1), np.array([header.horiz_offset])
    raw = np.frombuffer(buffer, dtype=header.sample_dtype, count=header.n_samples, offset=header.data_offset)
    volts = header.vertical_gain * raw.astype(np.float64) - header.vertical_offset
    return Trace(path, header, trigger_times, offsets, volts.reshape(segments, -1))
