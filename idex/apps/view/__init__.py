"""``idex view``: one desktop application to browse events, refit them, explore many files and inspect data.

Qt 6 (PySide6, the ``idex[gui]`` extra) with matplotlib canvases. The application only calls the
library's public functions (``open_raw``, ``open_cdf``, ``open_trc``, ``fitting.fit_arrays`` ...);
no GUI code lives in the library core.
"""

from __future__ import annotations

__all__ = ["main"]


def main(paths: list[str] | None = None) -> int:
    """Start the application on ``paths`` (captures, .trc folders, .nc/.h5/.cdf products)."""
    from idex.apps.view.app import run

    return run(paths or [])
