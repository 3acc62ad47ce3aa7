"""
Fit the target signals
======================

``ds.idex.fit()`` fits the impact model to every channel the schema's ``fits`` section declares, for all
events at once. Each fit carries a status: only ``converged`` fits have a determined optimum.
"""

import matplotlib.pyplot as plt
import numpy as np

import idex
from idex import FitStatus

ds = idex.open_raw(idex.testing.sample_capture(), group="events")
fits = ds.idex.fit(curves=True)
status = fits["target_low_fit_status"].values
print({FitStatus(code).name: int((status == code).sum()) for code in np.unique(status)})

# %%
# The calibrated target-low signal of the first converged event and its fitted model.
event = int(np.flatnonzero(status == FitStatus.CONVERGED)[0])
signal = ds.idex.calibrated(["target_low"])["target_low"].isel(event=event)
time = ds.idex.time("target_low").isel(event=event)
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(time, signal, linewidth=0.7, label="target_low")
ax.plot(time, fits["target_low_fit_curve"].isel(event=event), label="impact model fit")
ax.set_xlabel("time from trigger (µs)")
ax.set_ylabel(signal.attrs.get("units", ""))
ax.set_title(
    f"amplitude {float(fits['target_low_fit_amplitude'][event]):.3g} "
    f"± {float(fits['target_low_fit_amplitude_stderr'][event]):.2g}"
)
ax.legend()
plt.show()
