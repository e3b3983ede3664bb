"""Synthetic farm datasets that follow the input contract, with the faults real loggers make.

Why: the pipeline needs data to run on before anyone points it at their own exports, and
the tests need data whose truth is known. `generate_dataset` writes a dataset root
(farms.csv, harvests.csv, sensors/<farm_id>/<YYYY-MM>.csv) whose weather is physically
plausible and whose yields follow a stated agronomic model of that weather, so a model
trained on it has something real to learn and a known noise floor.

Everything is vectorised numpy/pandas over readings; the only Python loops run over farms,
seasons, files and days (the soil water bucket), never over readings. One farm is
generated and written at a time, so memory stays bounded by the largest farm.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from yieldflow.agronomy import CROP_GDD_BASE_C, CROP_HEAT_STRESS_C
from yieldflow.contract import (
    FARM_COLUMNS,
    FARMS_FILE,
    HARVEST_COLUMNS,
    HARVESTS_FILE,
    LOGGER_SENTINELS,
    PLANNED_COLUMNS,
    PLANNED_SEASONS_FILE,
    SENSOR_VALUE_COLUMNS,
    SENSORS_DIR,
    YIELD_RANGE_T_HA,
)

__all__ = [
    "CROPS",
    "CROP_GDD_BASE_C",
    "CROP_GDD_REQUIRED",
    "CROP_HEAT_SENSITIVITY",
    "CROP_HEAT_STRESS_C",
    "CROP_MEAN_YIELD_T_HA",
    "LEAD_DAYS",
    "PLANNED_SEASONS_FILE",
    "SOIL_TYPES",
    "FaultCounts",
    "GeneratedDatasetInfo",
    "SeasonDrivers",
    "generate_dataset",
    "yield_model",
]

LEAD_DAYS = 30  # readings start this many days before planting
_MARGIN_DAYS = 1  # and one more day either side, so any timezone reading still covers it

CROPS: tuple[str, ...] = ("Maize", "Soybean", "Wheat", "Potato")
# Typical yield (t/ha) of each crop on this synthetic population (fresh weight for potato).
CROP_MEAN_YIELD_T_HA: dict[str, float] = {
    "Maize": 10.0,
    "Soybean": 3.5,
    "Wheat": 7.0,
    "Potato": 40.0,
}
# Growing degree days (°C·days over CROP_GDD_BASE_C) a crop needs to reach full yield.
CROP_GDD_REQUIRED: dict[str, float] = {
    "Maize": 1500.0,
    "Soybean": 1250.0,
    "Wheat": 1850.0,
    "Potato": 1400.0,
}
# Fraction of yield lost per heat-stress day (daily max above CROP_HEAT_STRESS_C), compounding.
CROP_HEAT_SENSITIVITY: dict[str, float] = {
    "Maize": 0.012,
    "Soybean": 0.010,
    "Wheat": 0.010,
    "Potato": 0.008,
}
# Yield at no stress; calibrated so the population mean lands near CROP_MEAN_YIELD_T_HA.
_CROP_POTENTIAL_T_HA: dict[str, float] = {
    "Maize": 13.8,
    "Soybean": 4.8,
    "Wheat": 10.4,
    "Potato": 65.0,
}
_WATER_STRESS_WEIGHT = 0.75  # yield lost at full water stress
_STRESS_THRESHOLD = 0.5  # plants feel stress below this fraction of available water


@dataclass(frozen=True)
class _Soil:
    factor: float  # inherent fertility multiplier on yield
    capacity_mm: float  # plant-available water in the root zone
    wilting_pct: float  # volumetric water content at wilting point
    field_capacity_pct: float  # volumetric water content at field capacity


_SOILS: dict[str, _Soil] = {
    "SandyLoam": _Soil(0.94, 90.0, 8.0, 20.0),
    "Loam": _Soil(1.00, 140.0, 12.0, 28.0),
    "SiltLoam": _Soil(1.04, 175.0, 13.0, 32.0),
    "ClayLoam": _Soil(0.98, 160.0, 18.0, 36.0),
}
SOIL_TYPES: tuple[str, ...] = tuple(_SOILS)


@dataclass(frozen=True)
class _Region:
    name: str
    lat: tuple[float, float]
    lon: tuple[float, float]
    timezones: tuple[str, ...]
    t_mean: float  # annual mean air temperature at the region's centre latitude (°C)
    t_amp: float  # half the summer-winter difference of monthly means (°C)
    diurnal: float  # half the day-night range on a clear day (°C)
    rain_mm_year: float
    dew_depression: float  # typical air temperature minus dew point (°C)
    wind_ms: float
    irrigated_share: float

    @property
    def southern(self) -> bool:
        return self.lat[1] < 0


_NORTHERN_REGIONS: tuple[_Region, ...] = (
    _Region(
        "corn-belt", (38.0, 45.0), (-97.0, -86.0), ("America/Chicago",),
        10.5, 14.0, 6.0, 900.0, 4.0, 4.5, 0.15,
    ),
    _Region(
        "prairies", (49.0, 52.5), (-110.0, -100.0), ("America/Regina",),
        4.0, 16.0, 7.0, 420.0, 6.0, 5.0, 0.2,
    ),
    _Region(
        "western-europe", (46.0, 52.0), (0.0, 12.0), ("Europe/Paris", "Europe/Berlin"),
        10.5, 8.5, 5.0, 720.0, 3.5, 3.8, 0.2,
    ),
    _Region(
        "black-sea", (45.0, 50.5), (29.0, 39.0), ("Europe/Kyiv",),
        9.0, 12.5, 6.0, 520.0, 5.0, 4.0, 0.25,
    ),
    _Region(
        "central-valley", (36.0, 39.5), (-121.5, -119.0), ("America/Los_Angeles",),
        16.0, 8.5, 8.5, 320.0, 8.0, 3.0, 0.9,
    ),
)  # fmt: skip
_SOUTHERN_REGIONS: tuple[_Region, ...] = (
    _Region(
        "pampas", (-38.0, -31.0), (-64.0, -58.0), ("America/Argentina/Buenos_Aires",),
        16.0, 7.0, 6.5, 950.0, 4.0, 4.5, 0.15,
    ),
    _Region(
        "murray-darling", (-36.0, -29.0), (144.0, 151.0), ("Australia/Sydney",),
        17.5, 7.5, 7.5, 520.0, 7.0, 3.8, 0.6,
    ),
)  # fmt: skip

# Planting: (month, day) of the earliest planting, spread in days; season length range.
_NORTH_CALENDAR: dict[str, tuple[tuple[int, int], int, tuple[int, int]]] = {
    "Maize": ((4, 20), 25, (135, 160)),
    "Soybean": ((5, 5), 26, (110, 135)),
    "Wheat": ((3, 25), 31, (95, 120)),
    "Potato": ((4, 10), 30, (95, 130)),
}
# Southern farms plant in Oct/Nov and harvest in Feb/Mar (no wheat: it is a winter crop).
_SOUTH_CALENDAR: dict[str, tuple[tuple[int, int], int, tuple[int, int]]] = {
    "Maize": ((10, 5), 31, (125, 145)),
    "Soybean": ((10, 20), 31, (110, 130)),
    "Potato": ((10, 20), 31, (105, 125)),
}
_NORTH_ROTATION: tuple[str, ...] = ("Maize", "Soybean", "Wheat", "Potato")
_SOUTH_ROTATION: tuple[str, ...] = ("Maize", "Soybean", "Potato")

_NAME_FIRST = ("Willow", "Cedar", "Maple", "Prairie", "River", "Oak", "Stone", "Clover", "Elm")
_NAME_SECOND = ("Creek", "Ridge", "Valley", "Field", "Acres", "Meadow", "Bend", "Hollow")

# Stream ids under SeedSequence(seed, spawn_key=(farm_index, stream, ...)).
_STREAM_FARM, _STREAM_SEASON, _STREAM_FAULTS = 0, 1, 2
_SEASON_PLAN, _SEASON_WEATHER, _SEASON_YIELD = 0, 1, 2

# Decimal places written per sensor column (loggers round; keeps files small).
_DECIMALS: dict[str, int] = {
    "air_temp_c": 2,
    "rainfall_mm": 2,
    "relative_humidity_pct": 1,
    "soil_moisture_pct": 2,
    "soil_temp_c": 2,
    "solar_radiation_wm2": 1,
    "wind_speed_ms": 2,
}
# Implausible values a misbehaving sensor writes (the "humidity 140" kind).
_OUT_OF_RANGE: dict[str, tuple[float, ...]] = {
    "air_temp_c": (75.3, -71.0),
    "rainfall_mm": (-1.5, 612.0),
    "relative_humidity_pct": (140.0, -4.0),
    "soil_moisture_pct": (112.5, -2.0),
    "soil_temp_c": (85.0, -45.5),
    "solar_radiation_wm2": (1850.0, -20.0),
    "wind_speed_ms": (99.0, -1.0),
}
_SENTINEL_RATE = 0.002  # share of sensor values replaced by a logger sentinel or left empty
_SHUFFLE_FILE_SHARE = 0.25


@dataclass(frozen=True)
class FaultCounts:
    """How many of each logger fault were injected (all zero when faults=False)."""

    sentinel_values: int = 0  # cells written as -9999, -999, 9999 or left empty
    empty_values: int = 0  # of which left empty
    out_of_range_values: int = 0  # cells outside the contract's physical range
    gaps: int = 0  # logger-offline periods of 1-4 days
    gap_rows_removed: int = 0  # readings missing because of those gaps
    reexport_files: int = 0  # <YYYY-MM>-reexport.csv files
    duplicate_rows: int = 0  # rows in re-export files (exact copies of month-file rows)
    shuffled_files: int = 0  # files whose rows are out of time order


@dataclass(frozen=True)
class SeasonDrivers:
    """The hidden truth behind one farm-season's yield (also for unharvested seasons)."""

    farm_id: str
    season: int
    crop: str
    harvested: bool  # False: the season is only in planned_seasons.csv
    planting_date: date
    harvest_date: date
    gdd: float  # Σ max(0, (tmin+tmax)/2 - base) over local days in [planting, harvest)
    water_stress: float  # mean of clip((0.5 - available/capacity)/0.5, 0, 1) over the window
    heat_stress_days: int  # local days in the window with tmax > CROP_HEAT_STRESS_C
    rain_mm: float  # rain in the window
    soil_factor: float
    farm_factor: float
    noise_factor: float
    yield_t_ha: float


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


@dataclass(frozen=True)
class _Farm:
    index: int
    farm_id: str
    name: str
    region: _Region
    latitude: float
    longitude: float
    soil_type: str
    irrigated: bool
    timezone: str | None
    farm_factor: float
    rotation_offset: int

    @property
    def soil(self) -> _Soil:
        return _SOILS[self.soil_type]

    @property
    def rotation(self) -> tuple[str, ...]:
        return _SOUTH_ROTATION if self.region.southern else _NORTH_ROTATION


@dataclass(frozen=True)
class _Plan:
    season: int
    crop: str
    planting: date
    harvest: date
    harvested: bool


def yield_model(
    crop: str,
    gdd: float | np.ndarray,
    water_stress: float | np.ndarray,
    heat_stress_days: float | np.ndarray,
    soil_factor: float | np.ndarray = 1.0,
    farm_factor: float | np.ndarray = 1.0,
    noise_factor: float | np.ndarray = 1.0,
) -> np.ndarray:
    """Yield (t/ha) from a season's drivers: the agronomic truth the generator writes.

    potential(crop) × thermal × water × heat × soil × farm × noise, where
    thermal = min(gdd/required, 1)^0.8 (floored at 0.3^0.8), with a mild penalty when gdd
    exceeds 1.25 × required (a too-hot season shortens grain fill); water = 1 - 0.75 ×
    water_stress; heat = exp(-sensitivity × heat_stress_days). Clipped into (0, 100).
    Exposed so tests (and anyone judging a model) can reason about the truth directly.
    """
    ratio = np.asarray(gdd, dtype=float) / CROP_GDD_REQUIRED[crop]
    thermal = np.clip(ratio, 0.3, 1.0) ** 0.8 * (1.0 - 0.25 * np.clip(ratio - 1.25, 0.0, 1.0))
    water = 1.0 - _WATER_STRESS_WEIGHT * np.clip(np.asarray(water_stress, dtype=float), 0.0, 1.0)
    heat = np.exp(-CROP_HEAT_SENSITIVITY[crop] * np.asarray(heat_stress_days, dtype=float))
    value = (
        _CROP_POTENTIAL_T_HA[crop]
        * thermal
        * water
        * heat
        * np.asarray(soil_factor, dtype=float)
        * np.asarray(farm_factor, dtype=float)
        * np.asarray(noise_factor, dtype=float)
    )
    low, high = YIELD_RANGE_T_HA
    return np.clip(value, low + 0.05, high - 1.0)


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
) -> GeneratedDatasetInfo:
    """Write a contract-following dataset root to out_dir; same arguments → same bytes.

    Each farm draws from its own random streams (SeedSequence(seed, spawn_key=(farm, ...)),
    per season too), so adding farms or seasons leaves the existing ones unchanged.
    The last `unharvested_seasons` seasons get readings but no harvest rows; their windows
    go to planned_seasons.csv for forecasting. `overwrite=True` replaces a dataset already
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

    farm_list = [_make_farm(seed, k, width) for k in range(farms)]
    _write_farms(out / FARMS_FILE, farm_list)

    drivers: list[SeasonDrivers] = []
    totals = dict.fromkeys(FaultCounts.__dataclass_fields__, 0)
    n_rows = n_files = dst_dropped = 0
    for farm in farm_list:
        plans = [_plan_season(seed, farm, year, year in harvested_years) for year in season_years]
        frame, farm_drivers, dropped = _simulate_farm(seed, farm, plans, interval_minutes)
        drivers.extend(farm_drivers)
        dst_dropped += dropped
        rows, files, counts = _write_farm_sensors(
            out / SENSORS_DIR / farm.farm_id, frame, _stream(seed, farm.index, _STREAM_FAULTS),
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


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _make_farm(seed: int, k: int, width: int) -> _Farm:
    rng = _stream(seed, k, _STREAM_FARM)
    southern = k % 4 == 2  # a quarter of the farms, from the third one on
    regions = _SOUTHERN_REGIONS if southern else _NORTHERN_REGIONS
    region = regions[int(rng.integers(len(regions)))]
    # About half the farms give a timezone (and write naive local time); the pattern
    # alternates so both hemispheres get farms with and without one.
    block_even = (k // 4) % 2 == 0
    has_tz = (k % 2 == 0) if block_even else (k % 2 == 1)
    timezone = region.timezones[int(rng.integers(len(region.timezones)))]
    return _Farm(
        index=k,
        farm_id=f"F{k + 1:0{width}d}",
        name=f"{rng.choice(_NAME_FIRST)} {rng.choice(_NAME_SECOND)} Farm",
        region=region,
        latitude=round(float(rng.uniform(*region.lat)), 4),
        longitude=round(float(rng.uniform(*region.lon)), 4),
        soil_type=str(rng.choice(SOIL_TYPES)),
        irrigated=bool(rng.random() < region.irrigated_share),
        timezone=timezone if has_tz else None,
        farm_factor=float(np.exp(rng.normal(0.0, 0.08))),
        rotation_offset=int(rng.integers(12)),
    )


def _plan_season(seed: int, farm: _Farm, season: int, harvested: bool) -> _Plan:
    """Crop (rotating by season year) and planting/harvest dates; season = harvest year."""
    rng = _stream(seed, farm.index, _STREAM_SEASON, season, _SEASON_PLAN)
    rotation = farm.rotation
    crop = rotation[(farm.rotation_offset + season) % len(rotation)]
    calendar = _SOUTH_CALENDAR if farm.region.southern else _NORTH_CALENDAR
    (month, day), spread, (shortest, longest) = calendar[crop]
    plant_year = season - 1 if farm.region.southern else season
    planting = date(plant_year, month, day) + timedelta(days=int(rng.integers(spread)))
    harvest = planting + timedelta(days=int(rng.integers(shortest, longest + 1)))
    return _Plan(season, crop, planting, harvest, harvested)


def _red_noise(rng: np.random.Generator, n: int, sd: float, tau_steps: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation sd and e-folding time tau_steps."""
    alpha = min(1.0, 1.0 / max(tau_steps, 1.0))
    shocks = rng.standard_normal(n) * sd * np.sqrt((2.0 - alpha) / alpha)
    shocks[0] = rng.standard_normal() * sd
    return pd.Series(shocks).ewm(alpha=alpha, adjust=False).mean().to_numpy()


def _smooth(values: np.ndarray, tau_steps: float) -> np.ndarray:
    alpha = min(1.0, 1.0 / max(tau_steps, 1.0))
    return pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy()


def _simulate_farm(
    seed: int, farm: _Farm, plans: list[_Plan], interval_minutes: int
) -> tuple[pd.DataFrame, list[SeasonDrivers], int]:
    """All seasons of one farm: the clean readings table (with written timestamps)."""
    parts: list[dict[str, np.ndarray]] = []
    drivers: list[SeasonDrivers] = []
    dropped = 0
    for plan in plans:
        rng = _stream(seed, farm.index, _STREAM_SEASON, plan.season, _SEASON_WEATHER)
        utc, values, stress = _simulate_weather(rng, farm, plan, interval_minutes)
        local = _local_naive(utc, farm.timezone)
        keep = _first_wall_clock_occurrence(local)
        dropped += int((~keep).sum())
        local, values, stress = local[keep], {c: v[keep] for c, v in values.items()}, stress[keep]
        drivers.append(_season_drivers(seed, farm, plan, local, values, stress))
        values = {c: np.round(v, _DECIMALS[c]) for c, v in values.items()}
        parts.append({"local": local, "season": np.full(len(local), plan.season), **values})
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    frame = pd.DataFrame(merged)
    if farm.timezone:
        text = np.datetime_as_string(frame["local"].to_numpy("datetime64[s]"), unit="s")
    else:
        text = np.datetime_as_string(
            frame["local"].to_numpy("datetime64[s]"), unit="s", timezone="UTC"
        )
    frame.insert(0, "timestamp", text.astype(object))
    frame.insert(0, "farm_id", farm.farm_id)
    return frame, drivers, dropped


def _local_naive(utc: np.ndarray, timezone: str | None) -> np.ndarray:
    """Wall-clock time the logger writes: local for farms with a timezone, else UTC."""
    if not timezone:
        return utc
    index = pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(timezone).tz_localize(None)
    return index.to_numpy().astype("datetime64[s]")


def _first_wall_clock_occurrence(local: np.ndarray) -> np.ndarray:
    """Mask keeping each naive local time once, in order.

    When daylight saving ends the same wall-clock hour happens twice; a logger on local
    time cannot tell the two apart, so only the first (DST) occurrence is written. (The
    built-in crop calendars end before the autumn change, so today it never triggers.)
    """
    keep = np.ones(len(local), dtype=bool)
    if len(local) > 1:
        keep[1:] = local[1:] > np.maximum.accumulate(local)[:-1]
    return keep


def _simulate_weather(
    rng: np.random.Generator, farm: _Farm, plan: _Plan, interval_minutes: int
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Readings from LEAD_DAYS (+1) before planting to the day after harvest, in UTC.

    Returns the UTC times, the seven sensor columns and the water-stress index per reading.
    """
    region, soil = farm.region, farm.soil
    steps_per_day = 1440 // interval_minutes
    dt_h = interval_minutes / 60.0
    per_hour = 1.0 / dt_h
    start = plan.planting - timedelta(days=LEAD_DAYS + _MARGIN_DAYS)
    n_days = (plan.harvest - start).days + _MARGIN_DAYS
    n = n_days * steps_per_day
    utc = np.datetime64(start.isoformat(), "s") + np.arange(n) * np.timedelta64(
        interval_minutes * 60, "s"
    )
    epoch_days = (utc - np.datetime64("1970-01-01", "s")).astype(np.int64) / 86400.0
    solar_days = epoch_days + farm.longitude / 360.0
    solar_hour = (solar_days % 1.0) * 24.0
    year_phase = 2.0 * np.pi / 365.2422
    lat = np.radians(farm.latitude)
    plant_day = LEAD_DAYS + _MARGIN_DAYS
    season_days = (plan.harvest - plan.planting).days
    day_of_step = np.repeat(np.arange(n_days), steps_per_day)

    # This farm-season's character: warmer/cooler, wetter/drier, maybe a drought or heat wave.
    temp_anomaly = rng.normal(0.0, 1.4)
    wet_anomaly = rng.normal(0.0, 0.45)
    drought = np.zeros(n_days, dtype=bool)
    if rng.random() < 0.4:
        length = int(rng.integers(20, 46))
        begin = plant_day + int(rng.integers(0, max(1, season_days - length)))
        drought[begin : begin + length] = True
    heatwave = np.zeros(n)
    if rng.random() < 0.35:
        length = int(rng.integers(5, 13)) * steps_per_day
        begin = plant_day * steps_per_day + int(rng.integers(0, max(1, n - length - plant_day)))
        heatwave[begin : begin + length] = rng.uniform(3.0, 6.0)
        heatwave = _smooth(heatwave, 18 * per_hour)

    # Rain: storms arrive as a Poisson process (fewer in a drought), last hours, and spread
    # their depth unevenly over their steps; most steps stay dry.
    mean_storm_mm = 9.0
    rate = 1.15 * region.rain_mm_year / 365.0 / mean_storm_mm * np.exp(wet_anomaly)
    n_storms = int(rng.poisson(rate * n_days))
    first = rng.integers(0, n, n_storms)
    survives = ~drought[first // steps_per_day] | (rng.random(n_storms) < 0.12)
    first = first[survives]
    n_storms = len(first)
    hours = np.minimum(1 + rng.geometric(0.25, n_storms), 24)
    length = np.maximum(1, np.round(hours * per_hour)).astype(np.int64)
    depth = rng.gamma(0.8, mean_storm_mm / 0.8, n_storms)
    storm = np.repeat(np.arange(n_storms), length)
    offset = np.arange(len(storm)) - np.repeat(np.cumsum(length) - length, length)
    step = first[storm] + offset
    weight = rng.exponential(1.0, len(storm))
    share = weight / np.bincount(storm, weight, minlength=n_storms)[storm]
    inside = step < n
    rain = np.bincount(step[inside], (depth[storm] * share)[inside], minlength=n)
    rain = np.minimum(rain, 150.0)
    rain_day = rain.reshape(n_days, steps_per_day).sum(axis=1)

    # Cloudiness per day (1 = clear): rainy days are dull, droughts are bright.
    clear = np.clip(
        0.75 - 0.06 * wet_anomaly + 0.12 * rng.standard_normal(n_days)
        - 0.35 * np.minimum(rain_day / 8.0, 1.0) + 0.1 * drought,
        0.1, 1.0,
    )  # fmt: skip
    clear_step = clear[day_of_step]

    # Radiation from the sun's elevation at local solar time.
    declination = np.radians(23.44) * np.sin(year_phase * (epoch_days - 79.0))
    hour_angle = np.radians(15.0 * (solar_hour - 12.0))
    sin_elev = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
        hour_angle
    )
    flicker = np.clip(clear_step + 0.12 * (1.1 - clear_step) * rng.standard_normal(n), 0.05, 1.05)
    radiation = 1000.0 * np.clip(sin_elev, 0.0, None) ** 1.15 * flicker

    # Air temperature: climate by latitude and day of year, season anomaly, weather systems
    # lasting days, a heat wave, cloud and rain cooling, and a day/night cycle.
    peak_day = 19.0 if region.southern else 200.0  # days after 1 Jan of the warmest day
    centre_lat = abs(sum(region.lat) / 2)
    climate = (
        region.t_mean
        - 0.6 * (abs(farm.latitude) - centre_lat)
        + region.t_amp * np.cos(year_phase * (epoch_days - peak_day))
    )
    synoptic = _red_noise(rng, n, 2.6, 60 * per_hour)
    daily_shape = np.cos(2 * np.pi * (solar_hour - 15.0) / 24.0)
    air = (
        climate
        + temp_anomaly
        + synoptic
        + heatwave
        + 1.0 * drought[day_of_step]
        + 2.5 * (clear_step - 0.7)
        + region.diurnal * (0.4 + 0.6 * clear_step) * daily_shape
        + 0.25 * rng.standard_normal(n)
    )

    # Humidity from a slowly varying dew point: anticorrelated with temperature through the
    # day, high during and after rain, low in droughts.
    wet_recent = np.minimum(_smooth((rain > 0).astype(float), 6 * per_hour) * 3.0, 1.0)
    depression = np.clip(
        region.dew_depression - 1.0 * wet_anomaly + 2.0 * drought[day_of_step]
        + _red_noise(rng, n, 1.5, 48 * per_hour),
        0.5, None,
    ) * (1.0 - 0.85 * wet_recent)  # fmt: skip
    dew_point = _smooth(air, 24 * per_hour) - depression
    humidity = np.clip(
        100.0 * np.exp(17.625 * dew_point / (243.04 + dew_point) - 17.625 * air / (243.04 + air)),
        5.0,
        100.0,
    )

    wind = region.wind_ms * np.exp(_red_noise(rng, n, 0.35, 36 * per_hour) - 0.06) * (
        1.0 + 0.3 * np.cos(2 * np.pi * (solar_hour - 14.0) / 24.0)
    ) * rng.gamma(6.0, 1.0 / 6.0, n) + 1.5 * (rain > 0)
    wind = np.clip(wind, 0.0, 35.0)

    soil_temp = _smooth(air, 6 * per_hour) + 0.8 + 0.003 * _smooth(radiation, 3 * per_hour)
    soil_temp = soil_temp + 0.1 * rng.standard_normal(n)

    available, stress = _soil_water(
        rng, farm, rain, radiation, air, steps_per_day, n_days, plant_day, season_days, dt_h,
        wet_anomaly,
    )  # fmt: skip
    moisture = soil.wilting_pct + (soil.field_capacity_pct - soil.wilting_pct) * available
    moisture = np.clip(moisture + 0.15 * rng.standard_normal(n), 1.0, 60.0)

    values = {
        "air_temp_c": air,
        "rainfall_mm": rain,
        "relative_humidity_pct": humidity,
        "soil_moisture_pct": moisture,
        "soil_temp_c": soil_temp,
        "solar_radiation_wm2": radiation,
        "wind_speed_ms": wind,
    }
    return utc, values, stress


def _soil_water(
    rng: np.random.Generator,
    farm: _Farm,
    rain: np.ndarray,
    radiation: np.ndarray,
    air: np.ndarray,
    steps_per_day: int,
    n_days: int,
    plant_day: int,
    season_days: int,
    dt_h: float,
    wet_anomaly: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A daily bucket model of plant-available water, spread over the day's readings.

    Rain fills the bucket (heavy rain partly runs off), evapotranspiration from heat and
    sunshine (Hargreaves-like, scaled by a crop coefficient that grows with the canopy)
    empties it and slows as it dries, water above capacity drains, and irrigated farms top
    it up when it falls below 55% after planting. The loop runs over days, not readings.
    Returns available water / capacity and the water-stress index, per reading.
    """
    cap = farm.soil.capacity_mm
    shape = (n_days, steps_per_day)
    rain_2d = rain.reshape(shape)
    rain_day = rain_2d.sum(axis=1)
    infiltration = rain_day - 0.25 * np.maximum(rain_day - 25.0, 0.0)
    rad_mj = radiation.reshape(shape).sum(axis=1) * dt_h * 3600.0 / 1e6
    t_mean = air.reshape(shape).mean(axis=1)
    et0 = np.maximum(0.0135 * (t_mean + 17.8) * rad_mj / 2.45, 0.0)
    days = np.arange(n_days)
    progress = np.clip((days - plant_day) / season_days, 0.0, 1.0)
    kc = np.where(
        days < plant_day,
        0.35,
        np.where(
            progress < 0.75,
            0.35 + 0.75 * np.minimum(progress / 0.4, 1.0),
            1.1 - 0.5 * (progress - 0.75) / 0.25,
        ),
    )
    irrigating = farm.irrigated & (days >= plant_day) & (days < plant_day + season_days - 10)

    start_state = np.empty(n_days)
    gained = np.empty(n_days)
    lost = np.empty(n_days)
    drained = np.empty(n_days)
    state = cap * float(np.clip(0.6 + 0.15 * wet_anomaly + rng.normal(0.0, 0.1), 0.25, 1.0))
    half = 0.5 * cap
    for day, (inflow, demand, irrigate) in enumerate(
        zip(infiltration.tolist(), (et0 * kc).tolist(), irrigating.tolist(), strict=True)
    ):
        if irrigate and state < 0.55 * cap:
            state += min(30.0, cap - state)
        start_state[day] = state
        et = min(demand * min(1.0, state / half), state + inflow)
        after = state + inflow - et
        drain = 0.5 * max(after - cap, 0.0)
        gained[day], lost[day], drained[day] = inflow, et, drain
        state = after - drain

    # Within a day: rain arrives when it falls, ET follows the sun, drainage is steady.
    rain_share = np.cumsum(rain_2d, axis=1) / np.maximum(rain_day, 1e-9)[:, None]
    sun = radiation.reshape(shape) + 1.0
    sun_share = np.cumsum(sun, axis=1) / sun.sum(axis=1)[:, None]
    time_share = np.arange(1, steps_per_day + 1) / steps_per_day
    water = (
        start_state[:, None]
        + gained[:, None] * rain_share
        - lost[:, None] * sun_share
        - drained[:, None] * time_share[None, :]
    )
    available = np.clip(water / cap, 0.0, 1.3).ravel()
    stress = np.clip((_STRESS_THRESHOLD - available) / _STRESS_THRESHOLD, 0.0, 1.0)
    return available, stress


def _season_drivers(
    seed: int,
    farm: _Farm,
    plan: _Plan,
    local: np.ndarray,
    values: dict[str, np.ndarray],
    stress: np.ndarray,
) -> SeasonDrivers:
    """Yield drivers over the growing window, measured the way feature engineering does:
    by local calendar day, day mean = (min + max) / 2, a heat day has max above threshold."""
    day = local.astype("datetime64[D]")
    inside = (day >= np.datetime64(plan.planting)) & (day < np.datetime64(plan.harvest))
    window_days = day[inside]  # sorted: local time only goes forward after the DST drop
    starts = np.flatnonzero(np.r_[True, window_days[1:] != window_days[:-1]])
    air = values["air_temp_c"][inside]
    t_min, t_max = np.minimum.reduceat(air, starts), np.maximum.reduceat(air, starts)
    gdd = float(np.clip((t_min + t_max) / 2.0 - CROP_GDD_BASE_C[plan.crop], 0.0, None).sum())
    heat_days = int((t_max > CROP_HEAT_STRESS_C[plan.crop]).sum())
    water_stress = float(stress[inside].mean())
    rain_mm = float(values["rainfall_mm"][inside].sum())
    rng = _stream(seed, farm.index, _STREAM_SEASON, plan.season, _SEASON_YIELD)
    noise = float(np.exp(rng.normal(0.0, 0.085)))
    soil_factor = farm.soil.factor
    value = float(
        yield_model(plan.crop, gdd, water_stress, heat_days, soil_factor, farm.farm_factor, noise)
    )
    return SeasonDrivers(
        farm_id=farm.farm_id,
        season=plan.season,
        crop=plan.crop,
        harvested=plan.harvested,
        planting_date=plan.planting,
        harvest_date=plan.harvest,
        gdd=round(gdd, 2),
        water_stress=round(water_stress, 4),
        heat_stress_days=heat_days,
        rain_mm=round(rain_mm, 1),
        soil_factor=soil_factor,
        farm_factor=round(farm.farm_factor, 4),
        noise_factor=round(noise, 4),
        yield_t_ha=round(value, 2),
    )


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
        frame = _inject_gaps(frame, rng, interval_minutes, counts)
        _inject_bad_values(frame, rng, counts)
    month = frame["local"].to_numpy("datetime64[s]").astype("datetime64[M]")
    frame = frame.drop(columns=["local", "season"])
    bounds = np.flatnonzero(np.r_[True, month[1:] != month[:-1], True])
    files: list[tuple[str, pd.DataFrame]] = [
        (str(month[a]), frame.iloc[a:b]) for a, b in pairwise(bounds)
    ]
    if len({name for name, _ in files}) != len(files):  # the crop calendars rule this out
        raise RuntimeError(f"seasons of {folder.name} overlap in time; cannot split by month")
    if faults:
        files = _inject_file_faults(files, rng, interval_minutes, counts)
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for name, part in files:
        part.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
        rows += len(part)
    return rows, len(files), counts


def _inject_gaps(
    frame: pd.DataFrame, rng: np.random.Generator, interval_minutes: int, counts: dict[str, int]
) -> pd.DataFrame:
    """Logger offline 1-4 days: at most two per season, one in each half, so growing
    windows (≥ 95 days) always keep well over 85% of their hours."""
    steps_per_day = 1440 // interval_minutes
    season = frame["season"].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    years = np.unique(season)
    per_season = rng.choice([0, 1, 2], size=len(years), p=[0.35, 0.45, 0.2])
    if per_season.sum() == 0:
        per_season[rng.integers(len(years))] = 1  # every farm has at least one gap
    for year, n_gaps in zip(years.tolist(), per_season.tolist(), strict=True):
        rows = np.flatnonzero(season == year)
        halves = np.array_split(rows, n_gaps) if n_gaps else []
        for half in halves:
            length = int(rng.integers(24, 97) * steps_per_day // 24)
            if len(half) <= length + 2:
                continue
            begin = int(rng.integers(1, len(half) - length - 1))
            keep[half[begin : begin + length]] = False
            counts["gaps"] += 1
            counts["gap_rows_removed"] += length
    return frame.loc[keep].reset_index(drop=True)


def _inject_bad_values(
    frame: pd.DataFrame, rng: np.random.Generator, counts: dict[str, int]
) -> None:
    """Sentinels (and empty cells) at ~0.2% of values, plus a handful out of range."""
    columns = list(SENSOR_VALUE_COLUMNS)
    n_cells = len(frame) * len(columns)
    n_sentinel = round(_SENTINEL_RATE * n_cells)
    n_bad = int(rng.integers(2, 6))
    cells = rng.choice(n_cells, size=min(n_cells, n_sentinel + n_bad), replace=False)
    rows, cols = np.divmod(cells, len(columns))
    choices = np.array([*LOGGER_SENTINELS, np.nan])
    picks = rng.integers(len(choices), size=n_sentinel)
    for c, name in enumerate(columns):
        values = frame[name].to_numpy(copy=True)
        mine = cols[:n_sentinel] == c
        values[rows[:n_sentinel][mine]] = choices[picks[mine]]
        bad = cols[n_sentinel:] == c
        options = np.array(_OUT_OF_RANGE[name])
        values[rows[n_sentinel:][bad]] = options[rng.integers(len(options), size=int(bad.sum()))]
        frame[name] = values
    counts["sentinel_values"] += n_sentinel
    counts["empty_values"] += int(np.isnan(choices[picks]).sum())
    counts["out_of_range_values"] += len(cells) - n_sentinel


def _inject_file_faults(
    files: list[tuple[str, pd.DataFrame]],
    rng: np.random.Generator,
    interval_minutes: int,
    counts: dict[str, int],
) -> list[tuple[str, pd.DataFrame]]:
    """A re-exported ~10 days of one month (exact copies), and shuffled row blocks."""
    steps_per_day = 1440 // interval_minutes
    span = 10 * steps_per_day
    candidates = [i for i, (_, part) in enumerate(files) if len(part) >= span]
    if not candidates:
        candidates = [int(np.argmax([len(part) for _, part in files]))]
    chosen = candidates[int(rng.integers(len(candidates)))]
    name, part = files[chosen]
    begin = int(rng.integers(0, max(1, len(part) - span + 1)))
    reexport = part.iloc[begin : begin + span]
    counts["reexport_files"] += 1
    counts["duplicate_rows"] += len(reexport)

    shuffle = rng.random(len(files)) < _SHUFFLE_FILE_SHARE
    if not shuffle.any():
        shuffle[int(rng.integers(len(files)))] = True
    result: list[tuple[str, pd.DataFrame]] = []
    for (month, data), scramble in zip(files, shuffle.tolist(), strict=True):
        if scramble and len(data) >= 4:
            data = data.iloc[_block_permutation(rng, len(data), steps_per_day)]
            counts["shuffled_files"] += 1
        result.append((month, data))
    result.append((f"{name}-reexport", reexport))
    return result


def _block_permutation(rng: np.random.Generator, n: int, steps_per_day: int) -> np.ndarray:
    """Row order after moving blocks of 0.5-3 days around (never the identity)."""
    block = max(2, int(rng.integers(steps_per_day // 2, 3 * steps_per_day + 1)))
    edges = np.arange(0, n, block)
    if len(edges) < 2:
        edges = np.array([0, n // 2])
    order = rng.permutation(len(edges))
    if (order == np.arange(len(order))).all():
        order = order[::-1]
    ends = np.r_[edges[1:], n]
    return np.concatenate([np.arange(edges[i], ends[i]) for i in order])


def _write_farms(path: Path, farms: list[_Farm]) -> None:
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
