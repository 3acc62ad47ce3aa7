"""Science from fitted events: time-to-mass, impact speed and mass, signal-to-noise, lab calibrations.

Layer 5, above :mod:`idex.fit`: owns the TOF mass scale (:mod:`~idex.science.mass`), velocity and mass from
the target and ion-grid signals (:mod:`~idex.science.velocity`), SNR (:mod:`~idex.science.snr`), and
calibrations from dust-accelerator campaigns with their report (:mod:`~idex.science.lab_calibration`,
:mod:`~idex.science.calibration_report`). It may import the layers below it.
"""
