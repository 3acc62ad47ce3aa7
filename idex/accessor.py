"""The ``ds.idex`` accessor: thin delegates to the typed functions of ``idex``.

Each method imports its module when called: registering the accessor costs no more than importing
xarray (the fitting engine, SciPy and the writers load when first used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import xarray as xr

from idex._typing import PathLike
from idex.model.quality import QualityFlag

if TYPE_CHECKING:
    from idex.science.velocity import Calibration

__all__ = ["CdfWriter", "IdexDatasetAccessor"]


@xr.register_dataset_accessor("idex")
class IdexDatasetAccessor:
    """Methods for the IDEX event model, available as ``ds.idex.<method>``."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def time(self, channel: str) -> xr.DataArray:
        """Sample times of ``channel`` relative to each event's trigger (µs), shape ``(event, sample)``.

        Examples
        --------
        >>> import idex
        >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
        >>> ds.idex.time("tof_high").dims
        ('event', 'sample_high')
        """
        attrs = self._ds[channel].attrs
        clock = self._ds[attrs["time"]]
        relative = clock - self._ds[attrs["trigger_time"]]
        relative.attrs = {"long_name": f"Time of {channel} relative to the trigger", "units": "us"}
        return relative.transpose("event", ...)

    def calibrated(self, channels: list[str] | None = None) -> xr.Dataset:
        """Waveforms in physical units; see :func:`idex.model.calibration.calibrated`."""
        from idex.model.calibration import calibrated

        return calibrated(self._ds, channels)

    def fit(self, channels: list[str] | None = None, **options: object) -> xr.Dataset:
        """Fit the waveforms of every event; see :func:`idex.fit.events.fit` (accelerator shots read with a scope
        setup: :func:`idex.scope.fits.fit_shots`, the setup's fits after its background removal, and the QD)."""
        from idex.fit.events import fit

        if "idex_scope_setup" in self._ds.attrs and "idex_schema" not in self._ds.attrs:
            from idex.scope.fits import fit_shots

            shots = self._ds.drop_vars([n for n in self._ds.data_vars if "_fit_" in str(n)]).compute()  # small
            fitted = fit_shots(shots)
            return fitted if options.get("merge") else fitted.drop_vars(list(self._ds.data_vars))
        return fit(self._ds, channels, **options)  # type: ignore[arg-type]

    def mass(self, channel: str | None = None, schema: PathLike | None = None,
             prior: tuple[float, float] | PathLike | bool | None = None,
             polynomial: list[float] | None = None) -> xr.Dataset:
        """Add the TOF to mass calibration and a ``mass`` coordinate; see :func:`idex.science.mass.mass`."""
        from idex.science.mass import mass

        return mass(self._ds, channel=channel, schema=schema, prior=prior, polynomial=polynomial)

    def fit_peaks(self, channel: str = "tof_high", **options: object) -> xr.Dataset:
        """Find and fit the TOF peaks of every event with the EMG; see :func:`idex.fit.peaks.fit_peaks`."""
        from idex.fit.peaks import fit_peaks

        return fit_peaks(self._ds, channel, **options)  # type: ignore[arg-type]

    def snr(self, channel: str = "tof_high", window: tuple[float, float] = (-7.0, -5.0)) -> xr.DataArray:
        """Signal-to-noise ratio per event; see :func:`idex.science.snr.snr`."""
        from idex.science.snr import snr

        return snr(self._ds, channel, window=window)

    def dust(self) -> xr.Dataset:
        """The dust hits only: events whose ``dust_hit_flag`` is 1 (the mission's rule, see :mod:`idex.model.classify`).

        Examples
        --------
        >>> import idex
        >>> idex.open_raw(idex.testing.sample_capture(), group="events").idex.dust().sizes["event"]
        10
        """
        if "dust_hit_flag" not in self._ds:
            raise KeyError("no dust_hit_flag: decode with a schema that has a classification section")
        return self._ds.isel(event=self._ds["dust_hit_flag"].values == 1)

    def velocity(self, calibration: Calibration | PathLike | None = None) -> xr.Dataset:
        """Velocity and mass estimates from merged fit outputs; see :func:`idex.science.velocity.estimate`.

        ``calibration`` is a :class:`idex.science.velocity.Calibration` or the path of a calibration file
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

    def combined_tof(self) -> xr.Dataset:
        """Join the TOF gains into one spectrum; see :func:`idex.science.combined_tof.combined_tof`."""
        from idex.science.combined_tof import combined_tof

        return combined_tof(self._ds)

    def composition(self, rsf: PathLike | dict[str, float] | None = None, lines: PathLike | None = None,
                    **options: object) -> xr.Dataset:
        """Line identification and element abundances; see :func:`idex.science.composition.composition`."""
        from idex.science.composition import composition

        return composition(self._ds, rsf=rsf, lines=lines, **options)  # type: ignore[arg-type]

    def noise(self, channels: list[str] | None = None) -> xr.Dataset:
        """Pre-trigger noise diagnostics per channel; see :func:`idex.science.noise.noise`."""
        from idex.science.noise import noise

        return noise(self._ds, channels)

    def to_cdf(self, path: str, **options: object) -> object:
        """Write an ISTP CDF file; see :func:`idex.io.cdf.to_cdf`."""
        from idex.io import to_cdf

        return to_cdf(self._ds, path, **options)  # type: ignore[arg-type]

    def to_hdf5(self, path: str, **options: object) -> object:
        """Write compressed HDF5 (netCDF-4); see :func:`idex.io.netcdf.to_hdf5`."""
        from idex.io import to_hdf5

        return to_hdf5(self._ds, path, **options)  # type: ignore[arg-type]

    def to_netcdf(self, path: str, **options: object) -> object:
        """Write compressed netCDF-4 safely; see :func:`idex.io.netcdf.to_netcdf`."""
        from idex.io import to_netcdf

        return to_netcdf(self._ds, path, **options)  # type: ignore[arg-type]

    def to_csv(self, path: str, **options: object) -> object:
        """Write one CSV row per event; see :func:`idex.io.csv.to_csv`."""
        from idex.io import to_csv

        return to_csv(self._ds, path, **options)  # type: ignore[arg-type]

    def pointing(self, kernels: PathLike | list[PathLike] | None = None,
                 spin_tables: PathLike | list[PathLike] | None = None,
                 **options: object) -> xr.Dataset:
        """The mission's L1B pointing variables per event; see :func:`idex.science.pointing.pointing`."""
        from idex.science.pointing import pointing

        return pointing(self._ds, kernels, spin_tables, **options)  # type: ignore[arg-type]

    def rates(self, messages: PathLike | xr.Dataset | list[PathLike | xr.Dataset], *, windows: object = "official",
              **options: object) -> xr.Dataset:
        """L2B/L2C counts, rates (with Poisson intervals) and maps per window; see
        :func:`idex.io.rate_products.rates`."""
        from idex.io.rate_products import rates

        return rates(self._ds, messages, windows=windows, **options)  # type: ignore[arg-type]

    def flagged(self, flag: QualityFlag | int) -> xr.DataArray:
        """Boolean per event: True where ``quality_flags`` has any bit of ``flag`` set."""
        return (self._ds["quality_flags"] & int(flag)) != 0


@xr.register_dataset_accessor("to_cdf")
class CdfWriter:
    """``ds.to_cdf(path, ...)``: a callable accessor, the way ``ds.hvplot()`` works."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def __call__(self, path: str, **options: object) -> object:
        """Write ``ds`` as an ISTP CDF file; see :func:`idex.io.cdf.to_cdf`."""
        from idex.io import to_cdf

        return to_cdf(self._ds, path, **options)  # type: ignore[arg-type]
