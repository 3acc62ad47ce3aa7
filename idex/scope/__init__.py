"""Dust-accelerator oscilloscope captures in the event model: LeCroy traces grouped into shots,
fitted with the same engine as telemetry, and joined to the accelerator's event log.

A declarative *scope setup* (``schemas/scope/*.yaml``) says which scope channel is which detector,
its V→pC gain and polarity, how files are named, how to clean and fit each channel, the pickup-tube
geometry and the accelerator's database table. A new lab setup is a new YAML file.

Layer 8, above :mod:`idex.io`: owns scope setups (:mod:`~idex.scope.setups`), shots from traces
(:mod:`~idex.scope.shots`), shot and QD fits (:mod:`~idex.scope.fits`), the accelerator database join
(:mod:`~idex.scope.accelerator`) and whole campaigns (:mod:`~idex.scope.campaign`). It may import every
layer below it.
"""

from __future__ import annotations

from idex.scope.accelerator import join_accelerator
from idex.scope.campaign import process_campaign
from idex.scope.fits import fit_shots
from idex.scope.setups import ScopeChannel, ScopeSetup, load_setup
from idex.scope.shots import open_trc

__all__ = ["ScopeChannel", "ScopeSetup", "fit_shots", "join_accelerator", "load_setup", "open_trc", "process_campaign"]
