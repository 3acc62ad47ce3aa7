"""TOF → mass calibration from runs of known composition (e.g. iron dust): ``idex calibrate --tof``.

The distribution of the fitted stretch and shift across events, outliers excluded, becomes the ``mass``
section defaults of a schema (search ranges of median ± 5 robust standard deviations).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from idex._typing import PathLike
from idex._version import __version__
from idex.exceptions import InputError
from idex.model.calibration import schema_of
from idex.science.lab_calibration import robust_sigma
from idex.science.mass import mass

__all__ = ["TofCalibration", "calibrate_tof", "write_tof_calibration"]


@dataclass(frozen=True)
class TofCalibration:
    """Stretch and shift of the TOF → mass conversion across events of known composition."""

    stretch: tuple[float, float]
    """Median and robust standard deviation (µs/√u)."""
    shift_from_trigger: tuple[float, float]
    """Median and robust standard deviation (µs from the trigger)."""
    used: int
    undetermined: int
    outliers: int
    sources: tuple[str, ...]

    def mass_section(self, width: float = 5.0) -> dict[str, list[float]]:
        """Search ranges for a schema's ``mass`` section: median ± ``width`` robust standard deviations."""
        (stretch, stretch_sigma), (shift, shift_sigma) = self.stretch, self.shift_from_trigger
        half_stretch = max(width * stretch_sigma, 0.01 * abs(stretch))  # never narrower than 1 %
        half_shift = max(width * shift_sigma, 0.05)
        return {
            "stretch_us_per_sqrt_u": [round(stretch - half_stretch, 6), round(stretch + half_stretch, 6)],
            "shift_from_trigger_us": [round(shift - half_shift, 6), round(shift + half_shift, 6)],
        }


def calibrate_tof(events: xr.Dataset | Iterable[xr.Dataset], *, outlier_sigma: float = 5.0) -> TofCalibration:
    """Stretch and shift statistics of the TOF calibration across events of known composition.

    Parameters
    ----------
    events : xarray.Dataset or iterable of them
        Event models; those without ``mass_stretch``, or calibrated with a campaign prior, are calibrated on
        their own lines first (``ds.idex.mass(prior=False)``).
    outlier_sigma : float
        Events farther than this many robust standard deviations from the median stretch or shift are
        left out (counted).

    Returns
    -------
    TofCalibration
    """
    parts = [events] if isinstance(events, xr.Dataset) else list(events)
    stretches, shifts, sources = [], [], []
    for ds in parts:
        if "mass_stretch" not in ds or "prior" in ds["mass_stretch"].attrs.get("calibration", ""):
            ds = mass(ds, prior=False)  # each event on its own lines: the campaign value must not assume itself
        channel = _mass_channel(ds)
        stretches.append(ds["mass_stretch"].values)
        shifts.append(ds["mass_shift"].values - ds[ds[channel].attrs["trigger_time"]].values)
        sources.append(str(ds.attrs.get("source", "")))
    stretch, shift = np.concatenate(stretches), np.concatenate(shifts)
    determined = np.isfinite(stretch) & np.isfinite(shift)
    if determined.sum() < 3:
        raise InputError(f"{int(determined.sum())} events with a determined TOF calibration: at least 3 are needed")
    kept = determined.copy()
    for values in (stretch, shift):
        centre, sigma = np.median(values[determined]), robust_sigma(values[determined])
        kept &= np.abs(values - centre) <= outlier_sigma * sigma
    return TofCalibration(
        (float(np.median(stretch[kept])), robust_sigma(stretch[kept])),
        (float(np.median(shift[kept])), robust_sigma(shift[kept])),
        int(kept.sum()),
        int((~determined).sum()),
        int((determined & ~kept).sum()),
        tuple(sources),
    )


def write_tof_calibration(result: TofCalibration, path: PathLike) -> Path:
    """Write the ``mass`` section defaults and the statistics behind them as YAML.

    Returns
    -------
    pathlib.Path
    """
    from idex.atomic import atomic_path

    doc = {
        "mass": result.mass_section(),
        "statistics": {
            "stretch_us_per_sqrt_u": {"median": result.stretch[0], "robust_sigma": result.stretch[1]},
            "shift_from_trigger_us": {
                "median": result.shift_from_trigger[0],
                "robust_sigma": result.shift_from_trigger[1],
            },
            "events_used": result.used,
            "events_undetermined": result.undetermined,
            "events_outliers": result.outliers,
        },
        "sources": list(result.sources),
        "created": datetime.date.today().isoformat(),
        "idex_version": __version__,
    }
    text = (
        "# TOF calibration from events of known composition (idex calibrate --tof): copy the `mass` ranges\n"
        "# into your schema's mass section.\n" + yaml.safe_dump(doc, sort_keys=False, width=120)
    )
    with atomic_path(path, overwrite=True) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def _mass_channel(ds: xr.Dataset) -> str:
    """The TOF channel the schema's ``mass`` section calibrates."""
    section = schema_of(ds).mass
    if section is None:
        raise InputError(f"schema {ds.attrs.get('idex_schema', '?')!r} has no mass section: no TOF calibration")
    return section.channel
