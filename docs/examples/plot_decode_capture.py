"""
Decode a capture
================

``idex.open_raw`` turns a raw capture (concatenated CCSDS packets) into the event model. The bundled
2023-12-14 ground capture holds 14 events; the mission's classification says which are dust hits.
"""

import matplotlib.pyplot as plt

import idex

ds = idex.open_raw(idex.testing.sample_capture(), group="events")
print(
    f"{ds.sizes['event']} events, schema {ds.attrs['idex_schema']}, "
    f"{int(ds['dust_hit_flag'].sum())} dust hits, {int((ds['quality_flags'] != 0).sum())} flagged"
)

# %%
# The three TOF gains of the first dust hit, against time from the trigger (a lazy per-event coordinate).
hit = ds.idex.dust().isel(event=0)
fig, ax = plt.subplots(figsize=(8, 4))
for channel in ("tof_low", "tof_mid", "tof_high"):
    hit[channel].plot(ax=ax, x="time_from_trigger_high", label=channel, linewidth=0.7)
ax.set_title(f"event {int(hit['event'])}: the three TOF gains")
ax.set_xlabel("time from the trigger (µs)")
ax.set_ylabel("raw counts (dN)")
ax.legend()
plt.show()
