"""Write a file under a temporary name and move it into place only once it is complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from idex._typing import PathLike
from idex.exceptions import ExportError

__all__ = ["atomic_path"]


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
    if target.exists() and not overwrite:
        raise ExportError(f"{target} exists; pass overwrite=True to replace it")
    if not target.parent.is_dir():
        raise ExportError(f"folder {target.parent} does not exist")
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.part-", suffix=target.suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    temporary.unlink()  # writers such as cdflib refuse to write onto an existing file
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
