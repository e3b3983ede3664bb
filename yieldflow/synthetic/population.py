"""Who the synthetic farms are: regions, soils, crop calendars and rotations.

Each farm and season draws from its own random stream (`stream`), so adding farms or
seasons leaves the existing ones unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np


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
STREAM_FARM, STREAM_SEASON, STREAM_FAULTS = 0, 1, 2

SEASON_PLAN, SEASON_WEATHER, SEASON_YIELD = 0, 1, 2


@dataclass(frozen=True)
class Farm:
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
class Plan:
    season: int
    crop: str
    planting: date
    harvest: date
    harvested: bool


def stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def make_farm(seed: int, k: int, width: int) -> Farm:
    rng = stream(seed, k, STREAM_FARM)
    southern = k % 4 == 2  # a quarter of the farms, from the third one on
    regions = _SOUTHERN_REGIONS if southern else _NORTHERN_REGIONS
    region = regions[int(rng.integers(len(regions)))]
    # About half the farms give a timezone (and write naive local time); the pattern
    # alternates so both hemispheres get farms with and without one.
    block_even = (k // 4) % 2 == 0
    has_tz = (k % 2 == 0) if block_even else (k % 2 == 1)
    timezone = region.timezones[int(rng.integers(len(region.timezones)))]
    return Farm(
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


def plan_season(seed: int, farm: Farm, season: int, harvested: bool) -> Plan:
    """Crop (rotating by season year) and planting/harvest dates; season = harvest year."""
    rng = stream(seed, farm.index, STREAM_SEASON, season, SEASON_PLAN)
    rotation = farm.rotation
    crop = rotation[(farm.rotation_offset + season) % len(rotation)]
    calendar = _SOUTH_CALENDAR if farm.region.southern else _NORTH_CALENDAR
    (month, day), spread, (shortest, longest) = calendar[crop]
    plant_year = season - 1 if farm.region.southern else season
    planting = date(plant_year, month, day) + timedelta(days=int(rng.integers(spread)))
    harvest = planting + timedelta(days=int(rng.integers(shortest, longest + 1)))
    return Plan(season, crop, planting, harvest, harvested)
