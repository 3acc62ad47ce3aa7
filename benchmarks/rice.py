"""Rice decoding benchmark: the compiled idex decoder against a plain-Python reference decoder.

Input: every waveform of both real captures, Rice-encoded with ``idex.decode.rice.encode`` (the same
streams the compressed-capture tests use), repeated to ``--copies`` frames and decoded in one call.
Prints MB/s of compressed input and samples/s, the first-call time (compiling or loading the cached
kernel, measured in a fresh process), and the ratio to the pure-Python decoder of
``tests/rice_reference.py`` (the test oracle) on a subset. If ``imap-processing`` is installed, its
decoder is timed too.

Run: ``python benchmarks/rice.py [--copies 50]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import idex
from idex.decode import rice

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from rice_reference import reference_decode, to_bits  # noqa: E402

_FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from idex.decode import rice
rice.decode(bytes([0, 16]), n_samples=64, sample_bits=10)
print(time.perf_counter() - t0)
"""


def real_frames() -> list[tuple[bytes, int, int]]:
    """(stream, n_samples, sample_bits) for every waveform of both bundled captures."""
    frames = []
    for version in ("2023_07", "2023_12"):
        ds = idex.open_raw(idex.testing.sample_capture(version), group="events")
        for name in ("tof_high", "tof_low", "tof_mid", "target_low", "target_high", "ion_grid"):
            bits = 10 if name.startswith("tof") else 12
            n = 8192 if bits == 10 else 512
            for row in ds[name].values.astype(np.int64):
                frame = np.r_[row, np.full(n - row.size, row[-1])]  # pad TOF records to the 8192-sample frame
                frames.append((rice.encode(frame, sample_bits=bits), n, bits))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50, help="repeat the real frames this many times")
    args = parser.parse_args()
    first = float(
        subprocess.run([sys.executable, "-c", _FIRST_CALL], capture_output=True, text=True, check=True).stdout
    )
    frames = real_frames()
    for bits in (10, 12):
        chosen = [f for f in frames if f[2] == bits] * args.copies
        n = chosen[0][1]
        data = np.frombuffer(b"".join(f[0] for f in chosen), np.uint8)
        ends = np.cumsum([len(f[0]) for f in chosen])
        starts = np.r_[0, ends[:-1]]
        rice.decode_rows(data[: ends[0]], starts[:1], ends[:1], n_samples=n, sample_bits=bits)
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            _, status, _ = rice.decode_rows(data, starts, ends, n_samples=n, sample_bits=bits)
            best = min(best, time.perf_counter() - t0)
        assert (status == 0).all()
        mbs = data.size / 1e6 / best
        samples = len(chosen) * n / best
        subset = chosen[: max(1, len(chosen) // (args.copies * 4))]
        t0 = time.perf_counter()
        for stream, size, width in subset:
            reference_decode(to_bits(stream), size, width)
        ref = sum(len(f[0]) for f in subset) / 1e6 / (time.perf_counter() - t0)
        raw = len(chosen) * n * bits / 8
        print(
            f"{bits}-bit frames of {n} samples: {len(chosen)} frames, {data.size / 1e6:.1f} MB compressed "
            f"(ratio {raw / data.size:.2f}:1): {mbs:.0f} MB/s, {samples / 1e6:.0f} M samples/s; "
            f"pure-Python reference {ref:.3f} MB/s -> {mbs / ref:.0f}x"
        )
    print(f"first call in a fresh process (imports + loading the cached kernel, or compiling it): {first:.2f} s")
    try:
        from imap_processing.idex.decode import rice_decode  # type: ignore[import-not-found]
    except ImportError:
        print("imap-processing not installed: its decoder was not timed")
        return
    stream, n, bits = frames[0]
    t0 = time.perf_counter()
    rice_decode(to_bits(stream), bits, n)
    official = len(stream) / 1e6 / (time.perf_counter() - t0)
    print(f"imap-processing rice_decode: {official:.3f} MB/s")


if __name__ == "__main__":
    main()
