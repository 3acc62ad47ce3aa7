"""
Mass spectrum
=============

``ds.idex.mass()`` pairs the TOF peaks of each event with reference lines one to one and fits the
stretch and shift of ``t = shift + stretch * sqrt(m)``; the result carries a per-event ``mass`` coordinate.
"""

import matplotlib.pyplot as plt
import numpy as np

import idex

ds = idex.open_raw(idex.testing.sample_capture(), group="events").idex.mass()
matched = ds["mass_lines_matched"].values
event = int(np.argmax(matched))
row = ds.isel(event=event)
print(
    f"event {int(row['event'])}: {int(matched[event])} lines matched, stretch "
    f"{float(row['mass_stretch']):.4f} ± {float(row['mass_stretch_stderr']):.4f} µs/sqrt(u)"
)

fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(row["mass"], row["tof_high"], linewidth=0.7)
ax.set_xlim(0, 120)
ax.set_xlabel("mass (u)")
ax.set_ylabel("TOF high (raw counts)")
plt.show()
