"""The event model: what each value of an event ``xarray.Dataset`` means, and the builder that makes one.

Layer 3, above :mod:`idex.schema`: owns the quality-flag and fit-status vocabulary
(:mod:`~idex.model.quality`), spacecraft-clock and housekeeping conversions (:mod:`~idex.model.timing`,
:mod:`~idex.model.housekeeping`), waveforms in physical units (:mod:`~idex.model.calibration`), the
mission's event classification (:mod:`~idex.model.classify`, with its compiled dust test and peak finding)
and the Dataset builder with its lazy trigger clocks (:mod:`~idex.model.dataset`). It may import the
foundation modules and :mod:`idex.schema`; it knows nothing of bytes, fits or files.
"""
