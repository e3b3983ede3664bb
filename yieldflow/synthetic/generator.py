"""`generate_dataset`: write a contract-following dataset root, one farm at a time, so
memory stays bounded by the largest farm.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from yieldflow.contract import (
    FARM_COLUMNS,
    FARMS_FILE,
    HARVEST_COLUMNS,
    HARVESTS_FILE,
    PLANNED_COLUMNS,
    PLANNED_SEASONS_FILE,
    SENSORS_DIR,
)
from yieldflow.synthetic.faults import (
    FaultCounts,
    inject_bad_values,
    inject_file_faults,
    inject_gaps,
)
from yieldflow.synthetic.population import STREAM_FAULTS, Farm, make_farm, plan_season, stream
from yieldflow.synthetic.truth import SeasonDrivers
from yieldflow.synthetic.weather import simulate_farm


@dataclass(frozen=True)
class GeneratedDatasetInfo:
    """What generate_dataset wrote, so callers and tests can check it without re-reading."""

    out_dir: Path
    farms: int
    seasons: tuple[int, ...]  # every season with sensor data
    harvested_seasons: tuple[int, ...]  # seasons with rows in harvests.csv
    planned_seasons: tuple[int, ...]  # seasons only in planned_seasons.csv
    interval_minutes: int
    n_sensor_rows: int  # data rows in all sensor files, re-export duplicates included
    n_harvests: int
    n_files: int  # sensor files written, re-exports included
    faults: FaultCounts
    dst_rows_dropped: int  # readings not written because their local hour repeats (DST end)
    season_drivers: tuple[SeasonDrivers, ...] = field(repr=False, compare=False)


def generate_dataset(
    out_dir: str | Path,
    farms: int = 12,
    seasons: int = 4,
    first_season: int = 2022,
    seed: int = 42,
    interval_minutes: int = 60,
    unharvested_seasons: int = 0,
    faults: bool = True,
    overwrite: bool = False,
    planned_progress: float = 1.0,
) -> GeneratedDatasetInfo:
    """Write a contract-following dataset root to out_dir; same arguments → same bytes.

    Each farm draws from its own random streams (SeedSequence(seed, spawn_key=(farm, ...)),
    per season too), so adding farms or seasons leaves the existing ones unchanged.
    The last `unharvested_seasons` seasons get readings but no harvest rows; their windows
    go to planned_seasons.csv for forecasting; `planned_progress` < 1 stops their readings
    that far into each growing window (what a mid-season forecast sees). `overwrite=True`
    replaces a dataset already
    in out_dir; otherwise an existing one is an error rather than a silent mix of old and
    new files.
    """
    _check_arguments(farms, seasons, interval_minutes, unharvested_seasons)
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    season_years = tuple(range(first_season, first_season + seasons))
    harvested_years = season_years[: seasons - unharvested_seasons]
    planned_years = season_years[seasons - unharvested_seasons :]
    width = max(2, len(str(farms)))

    farm_list = [make_farm(seed, k, width) for k in range(farms)]
    _write_farms(out / FARMS_FILE, farm_list)

    drivers: list[SeasonDrivers] = []
    totals = dict.fromkeys(FaultCounts.__dataclass_fields__, 0)
    n_rows = n_files = dst_dropped = 0
    for farm in farm_list:
        plans = [plan_season(seed, farm, year, year in harvested_years) for year in season_years]
        frame, farm_drivers, dropped = simulate_farm(seed, farm, plans, interval_minutes)
        frame = _stop_planned_readings(frame, plans, planned_progress)
        drivers.extend(farm_drivers)
        dst_dropped += dropped
        rows, files, counts = _write_farm_sensors(
            out / SENSORS_DIR / farm.farm_id, frame, stream(seed, farm.index, STREAM_FAULTS),
            faults, interval_minutes,
        )  # fmt: skip
        n_rows += rows
        n_files += files
        for key, value in counts.items():
            totals[key] += value

    harvested = [d for d in drivers if d.harvested]
    _write_harvests(out / HARVESTS_FILE, harvested)
    planned = [d for d in drivers if not d.harvested]
    if planned:
        _write_planned(out / PLANNED_SEASONS_FILE, planned)
    return GeneratedDatasetInfo(
        out_dir=out,
        farms=farms,
        seasons=season_years,
        harvested_seasons=harvested_years,
        planned_seasons=planned_years,
        interval_minutes=interval_minutes,
        n_sensor_rows=n_rows,
        n_harvests=len(harvested),
        n_files=n_files,
        faults=FaultCounts(**totals),
        dst_rows_dropped=dst_dropped,
        season_drivers=tuple(drivers),
    )


def _check_arguments(farms: int, seasons: int, interval: int, unharvested: int) -> None:
    if farms < 1:
        raise ValueError(f"farms must be at least 1, got {farms}")
    if seasons < 1:
        raise ValueError(f"seasons must be at least 1, got {seasons}")
    if not 0 <= unharvested <= seasons:
        raise ValueError(f"unharvested_seasons must be in 0..{seasons}, got {unharvested}")
    if interval < 1 or 1440 % interval:
        raise ValueError(f"interval_minutes must divide a day (1440), got {interval}")


def _stop_planned_readings(frame: pd.DataFrame, plans: list, progress: float) -> pd.DataFrame:
    """Drop the readings from `progress` of the first unharvested window on."""
    planned = [p for p in plans if not p.harvested]
    if progress >= 1.0 or not planned:
        return frame
    first = min(planned, key=lambda p: p.planting)
    stop = (
        pd.Timestamp(first.planting)
        + (pd.Timestamp(first.harvest) - pd.Timestamp(first.planting)) * progress
    )
    return frame[frame["local"] < stop.floor("D")].reset_index(drop=True)


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to mix a new dataset into an old one; with overwrite, remove only our files."""
    ours = [
        out / FARMS_FILE,
        out / HARVESTS_FILE,
        out / PLANNED_SEASONS_FILE,
        out / SENSORS_DIR,
    ]
    existing = [p for p in ours if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds a dataset ({existing[0].name}); pass overwrite=True to replace it"
        )
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _write_farm_sensors(
    folder: Path,
    frame: pd.DataFrame,
    rng: np.random.Generator,
    faults: bool,
    interval_minutes: int,
) -> tuple[int, int, dict[str, int]]:
    """Inject this farm's faults, split its readings into monthly files and write them."""
    counts = dict.fromkeys(FaultCounts.__dataclass_fields__, 0)
    if faults:
        frame = inject_gaps(frame, rng, interval_minutes, counts)
        inject_bad_values(frame, rng, counts)
    month = frame["local"].to_numpy("datetime64[s]").astype("datetime64[M]")
    frame = frame.drop(columns=["local", "season"])
    bounds = np.flatnonzero(np.r_[True, month[1:] != month[:-1], True])
    files: list[tuple[str, pd.DataFrame]] = [
        (str(month[a]), frame.iloc[a:b]) for a, b in pairwise(bounds)
    ]
    if len({name for name, _ in files}) != len(files):  # the crop calendars rule this out
        raise RuntimeError(f"seasons of {folder.name} overlap in time; cannot split by month")
    if faults:
        files = inject_file_faults(files, rng, interval_minutes, counts)
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for name, part in files:
        part.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
        rows += len(part)
    return rows, len(files), counts


def _write_farms(path: Path, farms: list[Farm]) -> None:
    table = pd.DataFrame(
        {
            "farm_id": [f.farm_id for f in farms],
            "name": [f.name for f in farms],
            "latitude": [f.latitude for f in farms],
            "longitude": [f.longitude for f in farms],
            "soil_type": [f.soil_type for f in farms],
            "irrigated": ["true" if f.irrigated else "false" for f in farms],
            "timezone": [f.timezone or "" for f in farms],
        },
        columns=list(FARM_COLUMNS),
    )
    table.to_csv(path, index=False, lineterminator="\n")


def _write_harvests(path: Path, drivers: list[SeasonDrivers]) -> None:
    table = pd.DataFrame(
        [
            (d.farm_id, d.season, d.crop, d.planting_date.isoformat(), d.harvest_date.isoformat(),
             d.yield_t_ha)
            for d in drivers
        ],
        columns=list(HARVEST_COLUMNS),
    )  # fmt: skip
    table.to_csv(path, index=False, lineterminator="\n")


def _write_planned(path: Path, drivers: list[SeasonDrivers]) -> None:
    table = pd.DataFrame(
        [
            (d.farm_id, d.season, d.crop, d.planting_date.isoformat(), d.harvest_date.isoformat())
            for d in drivers
        ],
        columns=list(PLANNED_COLUMNS),
    )
    table.to_csv(path, index=False, lineterminator="\n")
