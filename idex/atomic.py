"""Write a file under a temporary name and move it into place only once it is complete.

Every file idex writes goes through :func:`atomic_path`: a reader never sees half a file, an existing
file is only replaced by a complete new one, and the temporary file is removed on every exit that can be
caught: errors and Ctrl+C by the context manager, SIGTERM by the command line (:func:`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from idex._typing import PathLike
from idex.exceptions import ExportError

__all__ = ["atomic_path", "remove_temporaries", "save_figure", "save_table"]


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Raises
    ------
    ExportError
        Before anything is written, if ``path`` exists and ``overwrite`` is False, or its folder
        does not exist.
    """
    target = Path(path)
    if target.is_symlink() and not target.exists() and not overwrite:
        raise ExportError(
            f"{target} is a symbolic link to a missing file; pass overwrite=True (--overwrite on the "
            "command line) to replace the link"
        )
    if target.exists() and not overwrite:
        raise ExportError(f"{target} exists; pass overwrite=True (--overwrite on the command line) to replace it")
    if not target.parent.is_dir():
        raise ExportError(f"folder {target.parent} does not exist")
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.part-", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    temporary.unlink()  # writers such as cdflib refuse to write onto an existing file
    _IN_PROGRESS.add(temporary)
    try:
        yield temporary
        os.replace(temporary, target)
    except OSError as error:  # disk full, read-only, quota: say so, naming the file
        raise ExportError(f"cannot write {target}: {error.strerror or error}{_why(target)}") from error
    except RuntimeError as error:  # the netCDF/HDF5 library reports a failed write as "NetCDF: HDF error"
        if "NetCDF" not in str(error) and "HDF" not in str(error):
            raise
        raise ExportError(f"cannot write {target}: {error}{_why(target)}") from error
    finally:
        temporary.unlink(missing_ok=True)
        _IN_PROGRESS.discard(temporary)


def _why(target: Path) -> str:
    """What probably made a write fail, when it can be seen: a full disk or a file-size limit."""
    with contextlib.suppress(OSError):
        if shutil.disk_usage(target.parent).free < 1 << 20:
            return " (the disk is full)"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return f" (the file size limit of {limit} bytes is reached)" if limit != resource.RLIM_INFINITY else ""


_IN_PROGRESS: set[Path] = set()
"""Temporary files being written now (for :func:`remove_temporaries`)."""


def remove_temporaries() -> None:
    """Remove every temporary file still being written: the last step before a forced exit."""
    for temporary in list(_IN_PROGRESS):
        temporary.unlink(missing_ok=True)


def save_figure(figure: object, path: PathLike, **options: object) -> Path:
    """Save a matplotlib ``figure`` to ``path`` atomically (the format follows the suffix), replacing it."""
    with atomic_path(path, overwrite=True) as temporary:
        figure.savefig(temporary, **options)  # type: ignore[attr-defined]
    return Path(path)


def save_table(frame: object, path: PathLike) -> Path:
    """Write a pandas DataFrame to ``path`` as CSV atomically (every float to full precision), replacing it."""
    with atomic_path(path, overwrite=True) as temporary:
        frame.to_csv(temporary, index=False, float_format="%.17g")  # type: ignore[attr-defined]
    return Path(path)
