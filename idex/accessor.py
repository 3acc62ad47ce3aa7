"""The ``ds.idex`` accessor: thin typed delegates to the functions of ``idex``, with their keyword signatures.

The accessor holds no logic: each method calls one function of the layer that owns it, and only the public
front and the applications use ``ds.idex`` (``tests/test_architecture.py`` checks that no layer below does).
Each method imports its module when called: registering the accessor costs no more than importing xarray
(the fitting engine, SciPy and the writers load when first used).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from idex._typing import PathLike
from idex.model.quality import QualityFlag

if TYPE_CHECKING:
    from idex.schema import FitSpec, Schema
    from idex.science.velocity import Calibration

__all__ = ["CdfWriter", "IdexDatasetAccessor"]


def _compression(level: int | None) -> dict[str, int]:
    """The writers' ``compression`` keyword when a level is given (``None``: the writer's own default)."""
    return {} if level is None else {"compression": level}


@xr.register_dataset_accessor("idex")
class IdexDatasetAccessor:
    """Methods for the IDEX event model, available as ``ds.idex.<method>``."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def time(self, channel: str) -> xr.DataArray:
        """Sample times of ``channel`` relative to each event's trigger (µs), shape ``(event, sample)``; see
        :func:`idex.model.timing.time_from_trigger`.

        Examples
        --------
        >>> import idex
        >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
        >>> ds.idex.time("tof_high").dims
        ('event', 'sample_high')
        """
        from idex.model.timing import time_from_trigger

        return time_from_trigger(self._ds, channel)

    def calibrated(self, channels: Iterable[str] | None = None) -> xr.Dataset:
        """Waveforms in physical units; see :func:`idex.model.calibration.calibrated`."""
        from idex.model.calibration import calibrated

        return calibrated(self._ds, channels)

    def fit(
        self,
        channels: Iterable[str] | None = None,
        *,
        curves: bool = False,
        merge: bool = False,
        max_iterations: int = 1000,
        specs: Mapping[str, FitSpec] | None = None,
        schema: str | PathLike | Schema | None = None,
    ) -> xr.Dataset:
        """Fit the waveforms of every event; see :func:`idex.fit.events.fit` (accelerator shots read with a scope
        setup: :func:`idex.scope.fits.fit_shots`, the setup's fits after its background removal, and the QD)."""
        from idex.scope.fits import fit_any

        return fit_any(
            self._ds, channels, curves=curves, merge=merge, max_iterations=max_iterations, specs=specs, schema=schema
        )

    def mass(
        self,
        channel: str | None = None,
        schema: str | PathLike | Schema | None = None,
        prior: tuple[float, float] | PathLike | bool | None = None,
        polynomial: Sequence[float] | None = None,
    ) -> xr.Dataset:
        """Add the TOF to mass calibration and a ``mass`` coordinate; see :func:`idex.science.mass.mass`."""
        from idex.science.mass import mass

        return mass(self._ds, channel=channel, schema=schema, prior=prior, polynomial=polynomial)

    def fit_peaks(
        self, channel: str = "tof_high", *, max_peaks: int = 20, half_width_us: float = 0.1, min_snr: float = 6.0
    ) -> xr.Dataset:
        """Find and fit the TOF peaks of every event with the EMG; see :func:`idex.fit.peaks.fit_peaks`."""
        from idex.fit.peaks import fit_peaks

        return fit_peaks(self._ds, channel, max_peaks=max_peaks, half_width_us=half_width_us, min_snr=min_snr)

    def snr(self, channel: str = "tof_high", window: tuple[float, float] | None = None) -> xr.DataArray:
        """Signal-to-noise ratio per event; see :func:`idex.science.snr.snr` (``window``: the mission's)."""
        from idex.science.snr import snr

        return snr(self._ds, channel, window=window)

    def dust(self) -> xr.Dataset:
        """The dust hits only; see :func:`idex.model.classify.dust_hits`.

        Examples
        --------
        >>> import idex
        >>> idex.open_raw(idex.testing.sample_capture(), group="events").idex.dust().sizes["event"]
        10
        """
        from idex.model.classify import dust_hits

        return dust_hits(self._ds)

    def velocity(self, calibration: Calibration | PathLike | None = None) -> xr.Dataset:
        """Velocity and mass estimates from merged fit outputs; see :func:`idex.science.velocity.estimate`.

        ``calibration`` is a :class:`idex.science.velocity_calibration.Calibration` or the path of a calibration file
        (default: the shipped unit-test parameters, with a warning).
        """
        from idex.science.velocity import Calibration, estimate, load_calibration

        if calibration is not None and not isinstance(calibration, Calibration):
            calibration = load_calibration(calibration)
        return estimate(self._ds, calibration=calibration)

    def l2a(self, calibration: Calibration | PathLike | None = None) -> xr.Dataset:
        """The model with the L2A per-event values (``<ch>_impact_charge``, ``_velocity_estimate``,
        ``_dust_mass_estimate``, ``_chi_squared``, ...); see :func:`idex.science.l2a.l2a_values`."""
        from idex.science.l2a import l2a_values
        from idex.science.velocity import Calibration, load_calibration

        if calibration is not None and not isinstance(calibration, Calibration):
            calibration = load_calibration(calibration)
        return l2a_values(self._ds, calibration=calibration)

    def tof_charge(self) -> xr.Dataset:
        """Impact charge from the highest unsaturated TOF gain; see :func:`idex.science.tof_charge.tof_charge`."""
        from idex.science.tof_charge import tof_charge

        return tof_charge(self._ds)

    def combined_tof(self, *, schema: Schema | None = None) -> xr.Dataset:
        """Join the TOF gains into one spectrum; see :func:`idex.science.combined_tof.combined_tof`."""
        from idex.science.combined_tof import combined_tof

        return combined_tof(self._ds, schema=schema)

    def composition(
        self,
        rsf: PathLike | dict[str, float] | None = None,
        lines: PathLike | None = None,
        *,
        schema: Schema | None = None,
        upper_limit_sigma: float = 3.0,
    ) -> xr.Dataset:
        """Line identification and element abundances; see :func:`idex.science.composition.composition`."""
        from idex.science.composition import composition

        return composition(self._ds, rsf=rsf, lines=lines, schema=schema, upper_limit_sigma=upper_limit_sigma)

    def noise(self, channels: list[str] | None = None) -> xr.Dataset:
        """Pre-trigger noise diagnostics per channel; see :func:`idex.science.noise.noise`."""
        from idex.science.noise import noise

        return noise(self._ds, channels)

    def to_cdf(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        version: int = 1,
        profile: str = "idex",
        compression: int | None = None,
    ) -> Path:
        """Write an ISTP CDF file; see :func:`idex.io.cdf.to_cdf` (``compression``: its default level)."""
        from idex.io import to_cdf

        return to_cdf(
            self._ds, path, overwrite=overwrite, version=version, profile=profile, **_compression(compression)
        )

    def to_hdf5(self, path: PathLike, *, overwrite: bool = False, compression: int | None = None) -> Path:
        """Write compressed HDF5 (netCDF-4); see :func:`idex.io.netcdf.to_hdf5`."""
        from idex.io import to_hdf5

        return to_hdf5(self._ds, path, overwrite=overwrite, **_compression(compression))

    def to_netcdf(self, path: PathLike, *, overwrite: bool = False, compression: int | None = None) -> Path:
        """Write compressed netCDF-4 safely; see :func:`idex.io.netcdf.to_netcdf`."""
        from idex.io import to_netcdf

        return to_netcdf(self._ds, path, overwrite=overwrite, **_compression(compression))

    def to_csv(self, path: PathLike, *, overwrite: bool = False) -> Path:
        """Write one CSV row per event; see :func:`idex.io.csv.to_csv`."""
        from idex.io import to_csv

        return to_csv(self._ds, path, overwrite=overwrite)

    def pointing(
        self,
        kernels: PathLike | Sequence[PathLike] | None = None,
        spin_tables: PathLike | Sequence[PathLike] | None = None,
        *,
        use_corrected_spin_start: bool = True,
    ) -> xr.Dataset:
        """The mission's L1B pointing variables per event; see :func:`idex.science.pointing.pointing`."""
        from idex.science.pointing import pointing

        return pointing(self._ds, kernels, spin_tables, use_corrected_spin_start=use_corrected_spin_start)

    def rates(
        self,
        messages: PathLike | xr.Dataset | Sequence[PathLike | xr.Dataset],
        *,
        windows: Any = "official",
        spin_tables: PathLike | Sequence[PathLike] | None = None,
        charge_edges: Any = None,
        mass_edges: Any = None,
        dust_only: bool = True,
        healpix_nside: int | None = None,
    ) -> xr.Dataset:
        """L2B/L2C counts, rates (with Poisson intervals) and maps per window; see
        :func:`idex.io.rate_products.rates` and :func:`idex.science.rates.tally`."""
        from idex.io.rate_products import rates

        return rates(
            self._ds,
            messages,
            windows=windows,
            spin_tables=spin_tables,
            charge_edges=charge_edges,
            mass_edges=mass_edges,
            dust_only=dust_only,
            healpix_nside=healpix_nside,
        )

    def flagged(self, flag: QualityFlag | int) -> xr.DataArray:
        """Boolean per event: True where ``quality_flags`` has any bit of ``flag`` set."""
        return (self._ds["quality_flags"] & int(flag)) != 0


@xr.register_dataset_accessor("to_cdf")
class CdfWriter:
    """``ds.to_cdf(path, ...)``: a callable accessor, the way ``ds.hvplot()`` works."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def __call__(
        self,
        path: PathLike,
        *,
        overwrite: bool = False,
        version: int = 1,
        profile: str = "idex",
        compression: int | None = None,
    ) -> Path:
        """Write ``ds`` as an ISTP CDF file; see :func:`idex.io.cdf.to_cdf`."""
        return IdexDatasetAccessor(self._ds).to_cdf(
            path, overwrite=overwrite, version=version, profile=profile, compression=compression
        )
