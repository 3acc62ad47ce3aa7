"""Register the ``ds.idex`` accessor when xarray is imported, without importing xarray ourselves.

``import idex`` stays cheap (the command line never needs xarray to print ``--help``), yet ``ds.idex``
must work in every program that imports idex, whatever the order of its imports. If xarray is already
in ``sys.modules`` the accessor is registered at once. Otherwise a finder placed first on
``sys.meta_path`` waits for the import of ``xarray``, lets the normal machinery find and execute it,
then imports :mod:`idex.accessor` and removes itself: the post-import hook of (withdrawn) PEP 369,
in the form the import system offers today.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["register_accessor_with_xarray"]

_TARGET = "xarray"


def register_accessor_with_xarray() -> None:
    """Register ``ds.idex`` now if xarray is loaded, otherwise right after xarray's import completes."""
    if _TARGET in sys.modules:
        importlib.import_module("idex.accessor")
    elif not any(isinstance(finder, _AfterXarrayImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterXarrayImport())


class _AfterXarrayImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: hands xarray's real spec back with a loader that registers the accessor."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from finding this finder again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    """xarray's own loader, followed by the import of :mod:`idex.accessor`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        importlib.import_module("idex.accessor")

    def __getattr__(self, name: str) -> Any:  # resource readers and the like: xarray's loader answers
        return getattr(self._loader, name)
