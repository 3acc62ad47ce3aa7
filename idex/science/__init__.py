"""Science from fitted events: time-to-mass, impact speed and mass, signal-to-noise, lab calibrations.

Layer 6, above :mod:`idex.fit`: owns the TOF mass scale (:mod:`~idex.science.mass`), velocity and mass from
the target and ion-grid signals (:mod:`~idex.science.velocity`), SNR (:mod:`~idex.science.snr`), and
calibrations from dust-accelerator campaigns with their report (:mod:`~idex.science.lab_calibration`,
:mod:`~idex.science.calibration_report`) and the TOF calibration from runs of known composition
(:mod:`~idex.science.tof_calibration`). It may import the layers below it.
"""
