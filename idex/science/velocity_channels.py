"""The channel roles of the velocity and mass estimate, read from ``defs/velocity_channels.yaml``.

>>> roles = velocity_channels()
>>> roles.rise_time_channels
('target_low', 'target_high')
>>> roles.target_preference
('target_high', 'target_low')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from idex.exceptions import InputError
from idex.resources import data_dir, read_yaml

__all__ = ["VelocityChannels", "velocity_channels"]


@dataclass(frozen=True)
class VelocityChannels:
    """Which channels the velocity estimate reads.

    Attributes
    ----------
    rise_time_channels : tuple of str
        Channels whose fitted rise time gives a velocity (and, with their impact charge, a mass).
    ion_grid_channel : str
        The channel whose charge over a target charge gives the ion-grid velocity.
    target_preference : tuple of str
        Target channels in order of preference for that target charge (first successful fit wins).
    """

    rise_time_channels: tuple[str, ...]
    ion_grid_channel: str
    target_preference: tuple[str, ...]


@lru_cache(maxsize=1)
def velocity_channels() -> VelocityChannels:
    """The channel roles shipped in ``defs/velocity_channels.yaml`` (read once per process)."""
    path = data_dir("defs") / "velocity_channels.yaml"
    doc = read_yaml(path)
    try:
        return VelocityChannels(
            tuple(doc["rise_time_channels"]), str(doc["ion_grid_channel"]), tuple(doc["target_preference"])
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"{path}: needs rise_time_channels, ion_grid_channel and target_preference ({exc})") from None
