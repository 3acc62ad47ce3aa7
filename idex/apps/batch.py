"""Batch processing of a folder tree of captures: decode (and fit, export, plot) each file once.

Each capture's outputs are named after its whole path below the input folder plus the format's
extension (``sub/run.1.pkts`` gives ``sub/run.1.pkts.nc``), so no two inputs can share an output. They
are written atomically and recorded in a manifest (``.idex-batch.json`` in the output folder, one entry
per input) with the source's size and modification time, so a rerun skips what is done and
unchanged, and an interrupted run loses nothing but the files in progress. A bad file is logged and
counted, never fatal. Files run in parallel in local processes, or on a ``dask.distributed``
cluster when a scheduler address is given. Several runs on one output folder share the work (each
input is claimed while processed), local workers end with their batch, and a rerun removes what a
killed run half-wrote (:mod:`idex.apps.batch_state`).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from idex._typing import PathLike
from idex.apps.batch_state import (
    CLAIMS,
    claim,
    die_with_parent,
    done_entry,
    load_manifest,
    record_done,
    remove_stale_temporaries,
)
from idex.exceptions import ExportError
from idex.extras import require

__all__ = ["BatchOptions", "FileResult", "find_captures", "process_capture", "run_batch"]

log = logging.getLogger(__name__)

HELD_ELSEWHERE = "being processed by another batch run"
"""The message of a capture skipped because another run's live process held its claim."""


@dataclass(frozen=True)
class BatchOptions:
    """What to produce for each capture."""

    formats: tuple[str, ...] = ("nc",)
    fit: bool = False
    quicklook: bool = False
    kernels: tuple[str, ...] = ()  # SPICE kernels: add the pointing variables (idex.science.pointing)
    spin_tables: tuple[str, ...] = ()


@dataclass
class FileResult:
    """Outcome for one capture."""

    source: str
    status: str  # "done", "skipped" or "failed"
    outputs: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0


def find_captures(root: PathLike, *, exclude: Path | None = None) -> list[Path]:
    """Raw captures under ``root``: files ending in .pkts/.bin/.dat/.ccsds or without a suffix (the old
    toolkit's convention), not hidden, not empty, and not inside ``exclude``."""
    from idex.opening import CAPTURE_SUFFIXES

    found = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if exclude is not None and exclude in path.parents:
            continue
        if path.suffix.lower() in (*CAPTURE_SUFFIXES, "") and path.stat().st_size > 0:
            found.append(path)
    return found


def process_capture(source: str, output_stem: str, options: BatchOptions) -> list[str]:
    """Decode one capture and write its products; returns the files written."""
    import warnings

    from idex.decode.raw import open_raw
    from idex.exceptions import PacketDecodeError, PacketWarning
    from idex.io import to_file

    stem = Path(output_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PacketWarning)  # problems are recorded in the quality flags
        tree = open_raw(source)
    if tree["packets"].sizes["packet"] == 0:
        raise PacketDecodeError(f"{source}: no CCSDS packet found: not a telemetry capture")
    ds = tree["events"].to_dataset()
    if options.kernels:
        from idex.exceptions import IdexWarning
        from idex.science.pointing import pointing

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IdexWarning)  # what the kernels miss is in pointing_flags
            ds = pointing(ds, list(options.kernels), list(options.spin_tables) or None)
    if options.fit:
        ds = ds.idex.fit(merge=True, curves=options.quicklook)
    outputs = [str(to_file(ds, stem.parent / f"{stem.name}.{fmt}", overwrite=True)) for fmt in options.formats]
    if options.quicklook:
        from idex.apps.quicklook import write_quicklooks

        outputs += [str(p) for p in write_quicklooks(ds, stem.parent / f"{stem.name}_quicklook", stem=stem.name)]
    return outputs


def _run_one(
    key: str, source: str, output_stem: str, options: BatchOptions, output: str, wanted: dict[str, Any]
) -> FileResult:
    """Process one capture while holding its claim; record it in the manifest before letting go."""
    start = time.perf_counter()
    with claim(Path(output), key) as mine:
        if not mine:
            return FileResult(source, "skipped", message=HELD_ELSEWHERE)
        if _is_done(done_entry(Path(output), key), Path(source), wanted):
            return FileResult(source, "skipped", message="done by another batch run")
        remove_stale_temporaries(Path(output_stem))
        try:
            outputs = process_capture(source, output_stem, options)
        except Exception as error:  # keep going: the failure is reported with its reason
            log.debug("%s", traceback.format_exc())
            return FileResult(
                source,
                "failed",
                message=f"{type(error).__name__}: {error}".splitlines()[0],
                seconds=time.perf_counter() - start,
            )
        record_done(Path(output), key, {"signature": _signature(Path(source)), "options": wanted, "outputs": outputs})
    return FileResult(source, "done", outputs, seconds=time.perf_counter() - start)


def _signature(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _is_done(entry: dict | None, source: Path, wanted: dict[str, Any]) -> bool:
    return bool(
        entry
        and entry["signature"] == _signature(source)
        and entry["options"] == wanted
        and all(Path(p).exists() for p in entry["outputs"])
    )


def run_batch(
    root: PathLike,
    output: PathLike,
    options: BatchOptions,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Process every capture under ``root`` into ``output`` (mirroring the folder tree).

    Parameters
    ----------
    root, output : str or path
        Folder searched for captures, and folder receiving the products.
    options : BatchOptions
        Products to make.
    jobs : int, optional
        Local worker processes (default: CPU count).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler to run the files on instead.
    force : bool
        Reprocess files even when the manifest says they are done and unchanged.
    progress : callable, optional
        Called with each file's result as it finishes.

    Returns
    -------
    list of FileResult
    """
    root, output = Path(root), Path(output)
    try:
        (output / CLAIMS).mkdir(parents=True, exist_ok=True)
    except OSError as error:  # read-only, permissions, a file in the way: said as such, naming the folder
        raise ExportError(f"cannot write in the output folder {output}: {error.strerror or error}") from None
    manifest = load_manifest(output)
    wanted = json.loads(json.dumps(asdict(options)))  # as the manifest stores it (tuples become lists)
    results: list[FileResult] = []
    todo: list[tuple[str, str, str]] = []
    for path in find_captures(root, exclude=output.resolve() if output.resolve() != root.resolve() else None):
        key = str(path.relative_to(root))
        entry = manifest.get(key)
        if not force and entry and _is_done(entry, path, wanted):
            results.append(FileResult(str(path), "skipped", entry["outputs"], "done and unchanged"))
            if progress:
                progress(results[-1])
            continue
        todo.append((key, str(path), str(output / key)))  # the whole relative name: no two inputs share outputs

    tasks = [(key, source, stem, options, str(output), wanted) for key, source, stem in todo]
    for result in _execute(tasks, jobs=jobs, scheduler=scheduler):
        results.append(result)
        if progress:
            progress(result)
    return _second_look(results, tasks)


def _second_look(results: list[FileResult], tasks: list[tuple]) -> list[FileResult]:
    """Try once more, at the end, the captures another run held: it may have finished them (they are then
    skipped as done) or died meanwhile (its claim is stale and taken over here), so a batch killed while
    sharing a folder leaves nothing undone by the one that survives it."""
    by_source = {task[1]: task for task in tasks}
    return [
        _run_one(*by_source[r.source]) if r.message == HELD_ELSEWHERE and r.source in by_source else r for r in results
    ]


def _execute(tasks: list[tuple], *, jobs: int | None, scheduler: str | None) -> Iterable[FileResult]:
    if not tasks:
        return
    if scheduler:
        distributed = require("distributed", "running on a dask scheduler (--scheduler)")
        with distributed.Client(scheduler) as client:
            for future in distributed.as_completed([client.submit(_run_one, *task, pure=False) for task in tasks]):
                yield future.result()
        return
    if jobs == 1 or len(tasks) == 1:
        for task in tasks:
            yield _run_one(*task)
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent) as pool:
        futures = [pool.submit(_run_one, *task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise
