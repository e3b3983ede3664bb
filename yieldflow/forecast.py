"""Next-season forecasts from the @champion model: the pure parts.

A season that has sensor data but no harvest yet gets its growing windows from
planned_seasons.csv; its features are built exactly as for training, encoded with the
champion's own saved encoder, and checked against the champion's signature before any
prediction is made.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pandas as pd

from yieldflow.contract import PLANNED_COLUMNS, PLANNED_SEASONS_FILE
from yieldflow.features import TARGET, build_season_features
from yieldflow.split import FeatureEncoder
from yieldflow.storage import DataSource


class ForecastError(ValueError):
    """A forecast cannot be made; the message is one line for the user."""


class SignatureMismatchError(ForecastError):
    """The season's features are not the columns the champion was trained on."""


def planned_windows(source: DataSource, season: int | None) -> pd.DataFrame:
    """The planned growing windows of one season (the latest one when season is None)."""
    try:
        raw = source.read_bytes(PLANNED_SEASONS_FILE)
    except OSError:
        raise ForecastError(
            f"{PLANNED_SEASONS_FILE} not found in the dataset: a forecast needs the planting "
            f"and harvest dates of the season ({', '.join(PLANNED_COLUMNS)})"
        ) from None
    table = pd.read_csv(io.BytesIO(raw), dtype=str)
    missing = [c for c in PLANNED_COLUMNS if c not in table.columns]
    if missing:
        raise ForecastError(f"{PLANNED_SEASONS_FILE}: missing column(s) {', '.join(missing)}")
    table["season"] = pd.to_numeric(table["season"], errors="coerce")
    for column in ("planting_date", "harvest_date"):
        table[column] = pd.to_datetime(table[column], format="ISO8601", errors="coerce")
    table = table.dropna(subset=["farm_id", "season", "planting_date", "harvest_date"])
    table["season"] = table["season"].astype(int)
    available = sorted(table["season"].unique())
    target = season if season is not None else (available[-1] if available else None)
    chosen = table[table["season"] == target]
    if chosen.empty:
        have = ", ".join(map(str, available)) or "none"
        raise ForecastError(f"{PLANNED_SEASONS_FILE} has no rows for season {target} (has: {have})")
    return chosen.assign(**{TARGET: np.nan}).reset_index(drop=True)


def season_features_for_forecast(
    readings: pd.DataFrame, windows: pd.DataFrame, farms: pd.DataFrame
) -> pd.DataFrame:
    """Features of every planned farm (coverage is reported, nothing is left out)."""
    features = build_season_features(readings, windows, farms, min_coverage=0.0).table
    if features.empty:
        raise ForecastError("no farm of the season has sensor readings in its growing window")
    return features


def check_signature(expected: list[str], encoded: list[str]) -> None:
    if expected == encoded:
        return
    missing = [c for c in expected if c not in encoded]
    unexpected = [c for c in encoded if c not in expected]
    raise SignatureMismatchError(
        "the season's features do not match the champion's signature: "
        f"missing {missing or 'none'}, unexpected {unexpected or 'none'}; retrain with "
        "`yieldflow run` on data with the same sensors, crops and soils"
    )


def forecast_table(
    features: pd.DataFrame,
    encoder: FeatureEncoder,
    expected_columns: list[str],
    predict: Callable[[pd.DataFrame], np.ndarray],
    interval: tuple[float, float],
) -> pd.DataFrame:
    """One row per farm: predicted yield and an interval (``interval`` holds the low and
    high ratios of truth to prediction seen in the champion's cross-validation)."""
    encoded = encoder.frame(features)
    check_signature(expected_columns, list(encoded.columns))
    predicted = np.asarray(predict(encoded), dtype=float).reshape(-1)
    return pd.DataFrame(
        {
            "farm_id": features["farm_id"],
            "season": features["season"],
            "crop": features["crop"],
            "predicted_yield_t_ha": predicted.round(3),
            "interval_low_t_ha": (predicted * interval[0]).clip(min=0).round(3),
            "interval_high_t_ha": (predicted * interval[1]).round(3),
            "sensor_coverage": features["sensor_coverage"].round(3),
        }
    )
