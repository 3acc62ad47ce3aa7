"""Run compiled kernels over blocks of events on every core, from Python threads.

The kernels release the GIL (``numba.njit(nogil=True)``), so plain threads run them in parallel. This
is chosen over numba's own ``parallel=True``: its default threading layer (workqueue) aborts the process
when two threads launch parallel kernels at once (dask's threaded scheduler does exactly that), the
OpenMP layer hangs in processes forked after use (``idex batch -j``), and the TBB layer cannot be loaded
from a pip-installed ``tbb`` without changing the library path. Threads over blocks have none of these
problems and keep results independent of the number of threads: each block is computed alone and in
order.

Blocks are also kept short (at most a few times ``minimum`` items, see :func:`blocks`) so that Ctrl+C
or SIGTERM takes effect within about a second: the signal reaches Python between blocks, the blocks not
yet started are cancelled, and the running ones finish soon.

``IDEX_NUM_THREADS`` sets the number of threads (default: the CPUs this process may use).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["blocks", "n_threads", "run_blocks"]

T = TypeVar("T")


def n_threads() -> int:
    """Threads to use: ``IDEX_NUM_THREADS`` if set (>= 1), else the CPUs available to this process."""
    setting = os.environ.get("IDEX_NUM_THREADS", "").strip()
    if setting:
        return max(1, int(setting))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_LONGEST_BLOCK = 4  # in units of ``minimum``: a block stays short enough to stop within about a second


def blocks(n_items: int, *, minimum: int = 64) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges covering ``range(n_items)``: at least one per thread, none shorter than
    ``minimum`` nor longer than a few times ``minimum`` (so that a signal acts between blocks soon).

    Examples
    --------
    >>> blocks(10)  # too few items to split
    [(0, 10)]
    >>> ranges = blocks(1000)
    >>> ranges[0][0], ranges[-1][1], max(stop - start for start, stop in ranges) <= 4 * 64
    (0, 1000, True)
    """
    minimum = max(minimum, 1)
    count = max(1, min(n_threads(), n_items // minimum), -(-n_items // (_LONGEST_BLOCK * minimum)))
    edges = [n_items * i // count for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def run_blocks(work: Callable[[int, int], T], ranges: Sequence[tuple[int, int]]) -> list[T]:
    """``[work(start, stop) for start, stop in ranges]``, the blocks in parallel threads when more than one."""
    threads = min(n_threads(), len(ranges))
    if threads <= 1:
        return [work(start, stop) for start, stop in ranges]
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="idex")
    try:
        return list(pool.map(lambda r: work(*r), ranges))
    finally:  # on Ctrl+C (or any error) the blocks not started are dropped, not run
        pool.shutdown(wait=True, cancel_futures=True)
