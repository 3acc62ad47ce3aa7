"""First use: idex's compiled kernels (numba, cached on disk) are built once, with a word to the user.

A fresh installation has no compiled kernels: the first decode spends about 15 s of processor time compiling
them and the first fit about 7 s (``benchmarks/first_use.py``). :func:`kernels_cached` tells whether numba's
on-disk cache holds them; :func:`warm_up` compiles every kernel the commands use by decoding and fitting the
bundled sample capture once, and the byte code of every module (``idex warmup``; without it the first command
compiles what it needs, and says so first).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["STEPS", "kernels_cached", "warm_up"]

_PACKAGE = Path(__file__).resolve().parents[1]
_KERNEL_PACKAGES = ("decode", "scan", "model", "fit")
"""What compiles: unpacking, the resynchronising scan (a capture that does not frame cleanly), the dust test,
the fit."""
_KERNEL_OF = {
    "decode": "idex.decode.framing:_frame_some",
    "scan": "idex.decode.framing:_frame_some",
    "model": "idex.model.dust_test:dust_test",
    "fit": "idex.fit.engine:_fit_rows",
}
"""A kernel of each package: numba keeps every kernel of a package in the same folder as this one."""
_KERNEL_FILE = {
    "decode": "waveform._kernel.locals.unpack",
    "scan": "framing._frame_some",
    "model": "dust_test.dust_test",
    "fit": "engine._fit_rows",
}
"""How numba names the cache index of the kernel each step compiles last (``<module>.<qualname>-<line>.*.nbi``):
a clean capture is decoded without the scan, so a package folder with some kernels may still lack others."""

STEPS = ("decode", "classify", "fit", "peaks")
"""What :func:`warm_up` runs, in order (each compiles the kernels it reaches)."""


def _cache_dirs(packages: tuple[str, ...]) -> list[Path]:
    """Where numba keeps the kernels of ``packages``, as numba itself says (``$NUMBA_CACHE_DIR`` or
    ``__pycache__``; the layout under ``$NUMBA_CACHE_DIR`` differs between numba versions), else the package's
    ``__pycache__``."""
    if "NUMBA_CACHE_DIR" not in os.environ:  # next to the modules: known without importing numba (`--help` stays light)
        return [_PACKAGE / _KERNEL_OF[package].split(".")[1] / "__pycache__" for package in packages]
    folders = []
    for package in packages:
        module, name = _KERNEL_OF[package].split(":")
        cache = getattr(getattr(importlib.import_module(module), name), "_cache", None)
        folders.append(Path(getattr(cache, "_cache_path", "") or _PACKAGE / module.split(".")[1] / "__pycache__"))
    return folders


def kernels_cached(packages: tuple[str, ...] = _KERNEL_PACKAGES) -> bool:
    """True when the kernel each of ``packages`` (default: all of them) compiles is in numba's cache (no
    compilation ahead).

    Examples
    --------
    >>> isinstance(kernels_cached(), bool)
    True
    """
    folders = _cache_dirs(packages)
    return all(any(folder.glob(f"{_KERNEL_FILE[p]}-*.nbi")) for p, folder in zip(packages, folders, strict=True))


def warm_up(progress: Callable[[str], None] | None = None) -> None:
    """Compile (or load from the cache) every kernel the commands use, on the bundled sample capture.

    Parameters
    ----------
    progress : callable, optional
        Called with each step's name (:data:`STEPS`) after it is done.
    """
    import compileall
    import warnings

    import numpy as np

    from idex.decode.framing import frame
    from idex.decode.raw import open_raw
    from idex.exceptions import IdexWarning
    from idex.testing import sample_capture

    compileall.compile_dir(_PACKAGE, quiet=2)  # byte code of every module (a fresh clone has none)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdexWarning)
        events = open_raw(sample_capture(), group="events")  # unpacking, classification
        frame(np.zeros(16, np.uint8), [1])  # a capture that does not frame cleanly: the compiled resynchronising scan
        done = progress or (lambda _: None)
        done(STEPS[0])
        done(STEPS[1])
        events = events.isel(event=slice(0, 2))
        events.idex.fit()
        done(STEPS[2])
        events.idex.fit_peaks("tof_high")
        done(STEPS[3])
