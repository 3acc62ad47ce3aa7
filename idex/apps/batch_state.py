"""What several ``idex batch`` runs on one output folder share, and what outlives a killed run.

* **Claims.** A worker takes ``.idex-claims/<input>.claim`` (created exclusively, holding its host and
  process id) before it touches an input, and removes it when done. Another run finding a live claim
  leaves that input to its owner, so two batches on one folder share the work instead of each redoing
  all of it. A claim whose process is gone (killed, even by SIGKILL) is stale and is taken over.
* **The manifest** (``.idex-batch.json``) is updated by the worker that made the outputs, under an
  exclusive lock, by merging its entry into what is on disk: no run overwrites another's entries, and
  a file finished by one run is seen as done by the others. A damaged manifest is set aside (renamed
  ``.damaged``) with a warning naming it, and a new one is started.
* **Temporaries.** Half-written files (``.NAME.part-*``) of an input nobody holds are removed when its
  claim is taken: a rerun cleans what a SIGKILL left.
* **Parent death.** Local workers ask the kernel for SIGTERM when the batch process dies
  (``PR_SET_PDEATHSIG``) and also watch their parent, so ``kill <batch pid>`` ends them too.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from idex.atomic import atomic_path

__all__ = [
    "MANIFEST",
    "claim",
    "die_with_parent",
    "done_entry",
    "load_manifest",
    "record_done",
    "remove_stale_temporaries",
]

log = logging.getLogger(__name__)

MANIFEST = ".idex-batch.json"
CLAIMS = ".idex-claims"
_ENTRY_KEYS = {"signature", "options", "outputs"}


def _claim_path(output: Path, key: str) -> Path:
    return output / CLAIMS / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".claim")


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux), so a reused pid is not taken for it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the process that wrote a claim still runs (claims from other hosts are trusted)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        pid = int(owner["pid"])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return owner.get("started", "") in ("", _started(pid)) and not _ended(pid)


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has ended but is not yet reaped by its parent (a zombie: its claim is stale)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def claim(output: Path, key: str) -> Iterator[bool]:
    """Hold the claim on input ``key`` for the block; yields False when a live process holds it."""
    path = _claim_path(output, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": _started(os.getpid()),
        "input": key,
        "since": time.time(),
    }
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                owner = {}
            if isinstance(owner, dict) and owner and _alive(owner):
                yield False
                return
            log.warning(
                "%s: taking over the claim of a batch process that is gone (pid %s)",
                key,
                owner.get("pid") if isinstance(owner, dict) else "?",
            )
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(me, file)
        try:
            yield True
        finally:
            path.unlink(missing_ok=True)
        return
    yield False  # another run took the stale claim at the same moment


@contextlib.contextmanager
def _locked(output: Path) -> Iterator[None]:
    with (output / ".idex-batch.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_manifest(output: Path) -> dict[str, dict]:
    """The manifest of ``output``; a damaged one is renamed ``.damaged`` with a warning naming it."""
    path = output / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        problem = "" if isinstance(manifest, dict) else f"a JSON {type(manifest).__name__}, not an object"
        if not problem:
            bad = [k for k, v in manifest.items() if not (isinstance(v, dict) and _ENTRY_KEYS <= v.keys())]
            problem = f"{len(bad)} entries lack {sorted(_ENTRY_KEYS)}" if bad else ""
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = f"{type(error).__name__}: {error}"
    if not problem:
        return manifest
    damaged = path.with_name(path.name + ".damaged")
    with contextlib.suppress(OSError):
        os.replace(path, damaged)
    log.warning(
        "%s is damaged (%s): set aside as %s; every capture is treated as not done", path, problem, damaged.name
    )
    return {}


def record_done(output: Path, key: str, entry: dict[str, Any]) -> None:
    """Merge one input's entry into the manifest on disk, under the lock."""
    with _locked(output):
        manifest = load_manifest(output)
        manifest[key] = entry
        with atomic_path(output / MANIFEST, overwrite=True) as temporary:
            temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")


def done_entry(output: Path, key: str) -> dict[str, Any] | None:
    """The manifest entry of ``key`` as it is on disk now (another run may have written it)."""
    with _locked(output):
        return load_manifest(output).get(key)


def remove_stale_temporaries(stem: Path) -> int:
    """Remove half-written files of the outputs named ``stem.*`` (call while holding their claim)."""
    stale = [*stem.parent.glob(f".{stem.name}.part-*"), *stem.parent.glob(f"{stem.name}_quicklook/.*.part-*")]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.warning("%s: removed %d half-written file(s) left by an interrupted run", stem.name, len(stale))
    return len(stale)


def die_with_parent() -> None:
    """In a worker process: end (SIGTERM) when the process that started it ends, whatever killed it."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent:  # the parent died before the request
        os.kill(os.getpid(), signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="idex-parent-watch", daemon=True).start()
