"""Framing benchmark on the worst input we can construct, against the plain statement of the rule.

The input (``tests/framing_reference.resync_run``): plausible APID 1424 headers every 6th byte, each
announcing a near-maximum packet (65 538 bytes, so it ends on another false header) whose CRC fails,
around one valid packet. Every candidate must then be checked against every header it covers. Before
framing became linear this cost grew with the cube of the packet length (131 kB took 38 minutes).
Prints idex's throughput on it, on the real capture repeated, and the ratio to the plain-Python rule
(``tests/framing_reference.py``, the test oracle) on an input small enough for it to finish.

Run: ``python benchmarks/framing_worst_case.py [--size-mb 20]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import idex
from idex.decode.framing import frame

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from framing_reference import reference_frame, resync_run  # noqa: E402

KNOWN, WITH_CRC = (1376, 1418, 1424), (1418, 1424)


def seconds(function, *args) -> float:
    """Best of three wall-clock times of ``function(*args)``."""
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=20.0, help="size of the hostile input")
    parser.add_argument("--reference-packet", type=int, default=3006, help="packet length for the ratio run")
    args = parser.parse_args()
    frame(np.frombuffer(resync_run(4096, 606)[0], np.uint8), KNOWN, WITH_CRC)  # compile / load the cache
    for packet_bytes in (65538, 65542):
        data = np.frombuffer(resync_run(int(args.size_mb * 1e6), packet_bytes)[0], np.uint8)
        spent = seconds(frame, data, KNOWN, WITH_CRC)
        print(
            f"idex, resync run of {packet_bytes}-byte false headers, {data.size / 1e6:.1f} MB: "
            f"{spent:.3f} s = {data.size / 1e6 / spent:.0f} MB/s"
        )
    schema = idex.load_schema("science_2023_12")
    real = np.frombuffer(idex.testing.sample_capture("2023_12").read_bytes() * 100, np.uint8)
    spent = seconds(frame, real, schema.known_apids, schema.crc_apids)
    print(f"idex, real 2023-12-14 capture x100, {real.size / 1e6:.1f} MB: {real.size / 1e6 / spent:.0f} MB/s")
    small = resync_run(14 * args.reference_packet - 12, args.reference_packet)[0]  # valid packet late in a false one
    ours = seconds(frame, np.frombuffer(small, np.uint8), KNOWN, WITH_CRC)
    start = time.perf_counter()
    reference_frame(small, set(KNOWN), set(WITH_CRC))
    theirs = time.perf_counter() - start
    print(
        f"plain rule (tests/framing_reference.py) on a {len(small)}-byte run of {args.reference_packet}-byte "
        f"headers: {theirs:.2f} s; idex {ours * 1e3:.2f} ms; ratio {theirs / ours:.0f}x"
    )


if __name__ == "__main__":
    main()
