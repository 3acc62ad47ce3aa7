"""The accelerator's event log joined to shots: each shot takes the speed and charge of the last
accelerator event before it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import MissingExtraError, MissingKeyError, PacketWarning, ProductError
from idex.extras import require
from idex.scope.setups import ScopeSetup, load_setup, setup_of

__all__ = ["join_accelerator"]


def join_accelerator(
    ds: xr.Dataset, url: str | None = None, setup: str | PathLike | ScopeSetup | None = None
) -> xr.Dataset:
    """Attach the accelerator's assigned values to each shot.

    For each shot, the last accelerator event at or before the scope trigger whose velocity matches
    the QD velocity within the setup's tolerance. Table and column names come from the setup, the
    connection URL from ``url`` or the environment variable the setup names (any SQLAlchemy URL).
    Unmatched shots get NaN and are reported; no database URL at all is reported, not fatal, but a URL
    given that leads nowhere (a SQLite file that does not exist, a server that does not answer, a database
    without the setup's table) is an error naming it, and nothing is created.

    Raises
    ------
    ProductError
        If the database named by the URL cannot be read.
    MissingExtraError
        If SQLAlchemy is not installed (the ``idex[db]`` extra).

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``accelerator_time``, ``accelerator_velocity``, ``accelerator_mass``,
        ``accelerator_charge``, ``accelerator_radius``.
    """
    sa = require("sqlalchemy", "reading the accelerator database")

    setup = setup if isinstance(setup, ScopeSetup) else (load_setup(setup) if setup else setup_of(ds))
    config = setup.database
    if config is None:
        raise MissingKeyError(f"scope setup {setup.name!r} has no 'database' section")
    url = url or os.environ.get(config["url_environment_variable"])
    n = ds.sizes["event"]
    result = {key: np.full(n, np.nan) for key in ("velocity", "mass", "charge", "radius")}
    when = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if not url:
        warnings.warn(
            f"no accelerator database: pass a URL or set ${config['url_environment_variable']}",
            PacketWarning,
            stacklevel=2,
        )
    else:
        columns = config["columns"]
        table = sa.table(config["table"], *(sa.column(c) for c in columns.values()))
        start = ds["epoch"].values.min() - np.timedelta64(1, "h")
        query = (
            sa.select(*(table.c[columns[k]] for k in ("time", "velocity", "mass", "charge", "radius")))
            .where(
                table.c[columns["time"]] >= start.astype("datetime64[us]").item(),
                table.c[columns["time"]] <= ds["epoch"].values.max().astype("datetime64[us]").item(),
            )
            .order_by(table.c[columns["time"]])
        )
        rows = _rows(sa, url, config["table"], query)
        times = np.array([np.datetime64(r[0], "ns") for r in rows], dtype="datetime64[ns]")
        speeds = np.array([r[1] for r in rows], dtype=float)
        qd_speed = ds["particle_velocity"].values if "particle_velocity" in ds else np.full(n, np.nan)
        for i in range(n):
            candidates = np.flatnonzero(
                (times <= ds["epoch"].values[i]) & (np.abs(speeds - qd_speed[i]) <= config["velocity_tolerance_kms"])
            )
            if candidates.size == 0:
                if rows:
                    warnings.warn(
                        f"shot {ds['shot'].values[i]}: no accelerator event before it with velocity "
                        f"{qd_speed[i]:.3f} ± {config['velocity_tolerance_kms']} km/s",
                        PacketWarning,
                        stacklevel=2,
                    )
                continue
            row = rows[candidates[-1]]
            when[i] = times[candidates[-1]]
            for j, key in enumerate(("velocity", "mass", "charge", "radius")):
                result[key][i] = row[j + 1]
    units = {"velocity": "km/s", "mass": "kg", "charge": "C", "radius": "m"}
    extra = {
        f"accelerator_{k}": ("event", v, {"long_name": f"Accelerator-assigned {k}", "units": units[k]})
        for k, v in result.items()
    }
    extra["accelerator_time"] = ("event", when, {"long_name": "Time of the matched accelerator event"})
    return ds.assign(extra)


def _rows(sa: Any, url: str, table: str, query: Any) -> list[Any]:
    """The rows of ``query``; a database that is not there or lacks ``table`` is a :class:`ProductError`."""
    try:
        engine = sa.create_engine(url)
    except ImportError as error:  # the driver the URL names (postgresql+psycopg: the idex[db] extra)
        raise MissingExtraError(
            f"accelerator database {url.split('://')[0]}: its driver {error.name or error} is not "
            "installed (pip install 'idex[db]' for PostgreSQL)",
            name=error.name,
        ) from None
    except sa.exc.ArgumentError as error:
        raise ProductError(f"accelerator database: not a URL SQLAlchemy reads ({error})") from None
    shown = engine.url.render_as_string(hide_password=True)
    database = engine.url.database
    try:
        if (
            engine.url.get_backend_name() == "sqlite"
            and database not in (None, "", ":memory:")
            and not Path(database).is_file()
        ):  # connecting would create an empty database file
            raise ProductError(f"accelerator database {shown}: no such file {database}")
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(table):
                raise ProductError(
                    f"accelerator database {shown} has no table {table!r} (the scope setup's database.table)"
                )
            return list(connection.execute(query).fetchall())
    except sa.exc.SQLAlchemyError as error:
        raise ProductError(
            f"accelerator database {shown} unavailable ({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from error
    finally:
        engine.dispose()
