"""Waveform fits: compiled models, the Levenberg-Marquardt engine, initial guesses, backgrounds, peaks.

Layer 5, above :mod:`idex.decode`: owns the model functions and their registry (:mod:`~idex.fit.models`),
the GIL-free multi-start engine (:mod:`~idex.fit.engine`), initial-guess rules (:mod:`~idex.fit.guesses`),
baseline/background estimates (:mod:`~idex.fit.background`), per-peak fits of mass spectra
(:mod:`~idex.fit.peaks`) and fitting every declared channel of an event Dataset (:mod:`~idex.fit.events`).
It may import the layers below it; it reads no files and writes none.
"""
