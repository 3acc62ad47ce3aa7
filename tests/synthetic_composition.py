"""Synthetic grains of known composition, recorded the way IDEX records them (the composition tests' oracle).

Each grain: element abundances × RSF × natural isotope pattern give line areas (mA µs); every line is an
EMG whose width and tail are drawn around (not at) the analysis' nominal shape; the spectrum is placed at
a stretch and shift near the instrument's, each line off that scale by a random fraction of a sample; the three
TOF gains see it with their own ratios (not the nominal ones), on their own baselines, with the real pre-trigger
noise of the bundled 2023-12-14 capture (tiled segments of the recorded records, so its ringing, the
autocorrelation, is the real one), rounded to 10 bits and clipped at the ADC's limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from idex.fit.models import MODELS
from idex.resources import data_dir

GAINS = ("tof_high", "tof_mid", "tof_low")
HIGH_DN_MA = 7.5e-05  # the schema's calibration factor of tof_high (mA per DN)
TRUE_RATIOS = (42.0, 46.5)  # high/mid and mid/low DN per DN: the generator's truth, 7.5 % and 1.7 % off nominal
BASELINES = (511.0, 513.0, 513.0)
STRETCH, SHIFT_FROM_TRIGGER = 1.4374, -1.436
LINE_JITTER_US = 0.003  # per-line offset from the mass scale, about 0.8 sample (1 sigma)
MAJORS = ("Mg", "Si", "Fe")
MINORS = ("H", "C", "O", "Na", "Al", "K", "Ca")
ABSENT = ("Cr", "Mn", "Ni")
RSF = {
    "H": 0.3,
    "C": 0.2,
    "O": 0.1,
    "Na": 3.0,
    "Mg": 1.0,
    "Al": 0.8,
    "Si": 0.5,
    "K": 4.0,
    "Ca": 1.5,
    "Cr": 1.0,
    "Mn": 1.0,
    "Fe": 0.7,
    "Ni": 0.6,
}


@dataclass(frozen=True)
class Grains:
    """The synthetic dataset and its truth."""

    ds: xr.Dataset
    atoms: dict[str, np.ndarray]
    """Atoms per element per grain (arbitrary unit; 0 when absent)."""
    stretch: np.ndarray
    shift: np.ndarray
    saturated: np.ndarray
    """Grains whose high gain clipped."""


def _line_list() -> list[tuple[str, float, float]]:
    rows = [
        line.split(",")
        for line in (data_dir("defs") / "composition_lines.csv").read_text().splitlines()
        if line and not line.startswith(("#", "species,"))
    ]
    return [(r[0], float(r[2]), float(r[3])) for r in rows if r[4] == "atom"]


def _noise(rng: np.random.Generator, quiet: list[np.ndarray], size: int) -> np.ndarray:
    """Real pre-trigger noise: random recorded segments, each about its median, joined end to end."""
    parts, total = [], 0
    while total < size:
        segment = quiet[rng.integers(len(quiet))]
        start = rng.integers(0, segment.size // 2)
        piece = segment[start:]
        parts.append(piece - np.median(piece))
        total += piece.size
    return np.concatenate(parts)[:size]


def make_grains(real: xr.Dataset, n: int, seed: int = 0, scale: tuple[float, float] = (3e-4, 3e-3)) -> Grains:
    """``n`` grains on the clocks and triggers of the real capture ``real`` (its events reused in turn)."""
    rng = np.random.default_rng(seed)
    lines = _line_list()
    elements = tuple(dict.fromkeys(s for s, _, _ in lines))
    clock = real["time_high"].values
    picks = np.arange(n) % real.sizes["event"]
    ds = real.isel(event=picks).assign_coords(event=np.arange(n, dtype=real["event"].dtype))
    trigger = ds["trigger_time_high"].values
    quiet = {
        g: [
            row[: int((t - 0.5) * 260)].astype(float)
            for row, t in zip(real[g].values, real["trigger_time_high"].values, strict=True)
        ]
        for g in GAINS
    }
    atoms = {e: np.zeros(n) for e in elements}
    stretch = STRETCH + rng.normal(0, 0.0015, n)
    shift = trigger + SHIFT_FROM_TRIGGER + rng.uniform(-0.02, 0.02, n)
    waves = {g: np.zeros((n, clock.size)) for g in GAINS}
    saturated = np.zeros(n, bool)
    for i in range(n):
        total = np.exp(rng.uniform(*np.log(scale)))  # Si-equivalent signal of the grain, mA us
        for e in MAJORS:
            atoms[e][i] = rng.uniform(0.3, 1.0)
        for e in MINORS:
            atoms[e][i] = rng.uniform(0.02, 0.3) if rng.random() < 0.7 else 0.0
        sigma = rng.uniform(0.006, 0.008)
        signal = np.zeros(clock.size)
        for species, m, fraction in lines:
            area = atoms[species][i] * RSF[species] * fraction * total
            if area == 0:
                continue
            tau = (0.0085 + 0.0004 * m) * rng.uniform(0.85, 1.15)
            # real lines sit up to a sample or two off the smooth mass scale (seen on the 2023-12-14 capture)
            peak_time = shift[i] + stretch[i] * np.sqrt(m) + rng.normal(0, LINE_JITTER_US)
            grid = np.linspace(-0.05, 0.25, 3001)[None, :]
            offset = grid[0, np.argmax(MODELS["emg"].function(grid, np.array([[0.0, sigma, 1 / tau, 1.0]]))[0])]
            params = np.array([[peak_time - offset, sigma, 1 / tau, area]])
            signal += MODELS["emg"].function(clock[None, :], params)[0]
        dn_per_ma = 1 / HIGH_DN_MA
        for g, gain, base in zip(
            GAINS, (1.0, 1 / TRUE_RATIOS[0], 1 / (TRUE_RATIOS[0] * TRUE_RATIOS[1])), BASELINES, strict=True
        ):
            raw = base + signal * dn_per_ma * gain + _noise(rng, quiet[g], clock.size)
            waves[g][i] = np.clip(np.round(raw), 0, 1023)
        saturated[i] = waves["tof_high"][i].max() >= 1023
    for g in GAINS:
        ds[g] = (ds[g].dims, waves[g].astype(ds[g].dtype), ds[g].attrs)
    ds = ds.drop_vars([v for v in ds.data_vars if v.startswith("mass")], errors="ignore")
    return Grains(ds, atoms, stretch, shift, saturated)
