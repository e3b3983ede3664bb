"""Crop constants shared by feature engineering and the synthetic data generator."""

from __future__ import annotations

# Base temperature for growing degree days (°C), per crop; common agronomic values.
CROP_GDD_BASE_C: dict[str, float] = {"Maize": 10.0, "Soybean": 10.0, "Wheat": 0.0, "Potato": 7.0}
# Daily maximum above which a day counts as heat stress (°C).
CROP_HEAT_STRESS_C: dict[str, float] = {
    "Maize": 35.0,
    "Soybean": 35.0,
    "Wheat": 30.0,
    "Potato": 30.0,
}
# Fallbacks for a crop not listed above (a free-text category in the contract).
DEFAULT_GDD_BASE_C = 10.0
DEFAULT_HEAT_STRESS_C = 35.0
FROST_C = 0.0
DRY_DAY_RAIN_MM = 1.0  # a day with less rain than this is dry
DRY_SPELL_MIN_DAYS = 5  # this many dry days in a row make a dry spell
LEAD_DAYS = 30  # the "month before planting" used for soil moisture at planting
W_M2_DAY_TO_MJ_M2 = 0.0864  # mean W/m² over a day → MJ/m² that day
