"""Version of the installed ``idex`` package."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("idex")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
