"""The input data contract (v1) as constants: one place that names every column and range.

docs/data-contract.md is the human-readable version; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

FARMS_FILE = "farms.csv"
HARVESTS_FILE = "harvests.csv"
# Optional: the growing windows of seasons not harvested yet (what a forecast predicts).
PLANNED_SEASONS_FILE = "planned_seasons.csv"
PLANNED_COLUMNS: tuple[str, ...] = ("farm_id", "season", "crop", "planting_date", "harvest_date")
SENSORS_DIR = "sensors"
SENSOR_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class SensorColumn:
    name: str
    unit: str
    low: float
    high: float
    required: bool


SENSOR_COLUMNS: tuple[SensorColumn, ...] = (
    SensorColumn("air_temp_c", "°C", -60.0, 60.0, True),
    SensorColumn("rainfall_mm", "mm", 0.0, 500.0, True),
    SensorColumn("relative_humidity_pct", "%", 0.0, 100.0, False),
    SensorColumn("soil_moisture_pct", "%", 0.0, 100.0, False),
    SensorColumn("soil_temp_c", "°C", -40.0, 70.0, False),
    SensorColumn("solar_radiation_wm2", "W/m²", 0.0, 1500.0, False),
    SensorColumn("wind_speed_ms", "m/s", 0.0, 75.0, False),
)
SENSOR_VALUE_COLUMNS: tuple[str, ...] = tuple(c.name for c in SENSOR_COLUMNS)
REQUIRED_SENSOR_COLUMNS: tuple[str, ...] = (
    "farm_id",
    "timestamp",
    *(c.name for c in SENSOR_COLUMNS if c.required),
)
SENSOR_RANGES: dict[str, tuple[float, float]] = {c.name: (c.low, c.high) for c in SENSOR_COLUMNS}

# Loggers write these for a failed reading (besides NaN and empty).
LOGGER_SENTINELS: tuple[float, ...] = (-9999.0, -999.0, 9999.0)

HARVEST_COLUMNS: tuple[str, ...] = (
    "farm_id",
    "season",
    "crop",
    "planting_date",
    "harvest_date",
    "yield_t_ha",
)
YIELD_RANGE_T_HA: tuple[float, float] = (0.0, 100.0)  # exclusive at both ends

FARM_COLUMNS: tuple[str, ...] = (
    "farm_id",
    "name",
    "latitude",
    "longitude",
    "soil_type",
    "irrigated",
    "timezone",
)
