"""Open anything ``idex view`` accepts as (name, DataTree) pairs, and keep fit overrides beside the data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

__all__ = ["Opened", "load", "overrides_path"]


@dataclass
class Opened:
    """A file (or folder) opened in the viewer: its tree and the event model inside."""

    path: Path
    tree: xr.DataTree
    events: xr.Dataset
    overrides: dict[str, dict] = field(default_factory=dict)


def overrides_path(path: Path) -> Path:
    """Sidecar file holding the fits a user kept (never the original data file)."""
    return path.with_name(path.name + ".idex-fits.json")


def load(path: str | Path) -> Opened:
    """Open a folder of .trc files or anything :func:`~idex.opening.open` reads (refusing the rest with its reason)."""
    import warnings

    from idex.exceptions import PacketWarning
    from idex.opening import kind_of
    from idex.opening import open as open_any

    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PacketWarning)
        if path.is_dir():
            from idex.scope import open_trc

            tree = xr.DataTree.from_dict({"events": open_trc(path)})
        elif kind_of(path) == "telemetry":  # the whole tree: the data browser shows packets and problems too
            from idex.decode.raw import open_raw

            tree = open_raw(path)
        else:
            from idex.io.l2a import require_waveforms

            tree = xr.DataTree.from_dict({"events": require_waveforms(open_any(path), path)})
    sidecar = overrides_path(path)
    overrides = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    return Opened(path, tree, tree["events"].to_dataset(), overrides)


def save_overrides(opened: Opened) -> Path:
    """Write the kept fits to the sidecar file (removed when there is none left)."""
    sidecar = overrides_path(opened.path)
    if opened.overrides:
        sidecar.write_text(json.dumps(opened.overrides, indent=1, sort_keys=True), encoding="utf-8")
    elif sidecar.exists():
        sidecar.unlink()
    return sidecar
