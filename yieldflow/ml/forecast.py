"""Forecasts as of a date, from the champion: the pure parts.

A season that has sensor data but no harvest yet gets its growing windows from
planned_seasons.csv. A forecast made on day D uses each farm's readings up to D only:
its features are cut at the latest forecast point that D has reached (50%, 75% or 100% of
the window by default), and the champion's model for that point, trained on every
harvested season cut at the same point, predicts it with that point's interval. A farm
the champion cannot speak for is refused, with its reason, in the table.
"""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd

from yieldflow.contract import PLANNED_COLUMNS, PLANNED_SEASONS_FILE
from yieldflow.features.seasons import TARGET, build_season_features, windows_at
from yieldflow.io.source import DataSource
from yieldflow.ml.forecaster import SeasonForecaster

FORECAST = "forecast"
REFUSED = "refused"


class ForecastError(ValueError):
    """A forecast cannot be made; the message is one line for the user."""


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


def latest_reading_days(readings: pd.DataFrame, farm_ids: pd.Series) -> pd.Series:
    """Each farm's day of its latest reading (UTC), NaT for a farm without readings."""
    mine = readings[readings["farm_id"].isin(farm_ids)]
    latest = mine.groupby("farm_id")["timestamp"].max().dt.tz_convert("UTC").dt.tz_localize(None)
    return farm_ids.map(latest.dt.floor("D"))


def elapsed_fraction(windows: pd.DataFrame, as_of: date | pd.Series) -> pd.Series:
    """How much of each growing window has passed by the end of ``as_of`` (one day for
    every window, or one per window) (0..1)."""
    end_of_day = (
        pd.to_datetime(as_of) if isinstance(as_of, pd.Series) else pd.Timestamp(as_of)
    ) + pd.Timedelta(days=1)
    length = windows["harvest_date"] - windows["planting_date"]
    return ((end_of_day - windows["planting_date"]) / length).clip(0.0, 1.0)


def point_reached(window: pd.Series, as_of: date, points: list[float]) -> float | None:
    """The latest point whose cut window (as features.windows_at cuts it) ends by the end
    of ``as_of``: the features at that point use no reading after the day."""
    length = window["harvest_date"] - window["planting_date"]
    end_of_day = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    reached = [p for p in points if window["planting_date"] + (length * p).floor("D") <= end_of_day]
    return max(reached) if reached else None


def forecast_table(
    readings: pd.DataFrame,
    windows: pd.DataFrame,
    farms: pd.DataFrame,
    forecaster: SeasonForecaster,
    as_of: date | None,
    min_coverage: float,
) -> pd.DataFrame:
    """One row per planned farm: a forecast with its interval, or a refusal with its reason.

    ``as_of`` None forecasts each farm as of its own latest reading (loggers stop at
    different days); a date forecasts every farm as of that day.
    """
    days = (
        pd.Series(pd.Timestamp(as_of), index=windows.index)
        if as_of is not None
        else latest_reading_days(readings, windows["farm_id"])
    )
    windows = windows.assign(as_of_day=days.to_numpy())
    no_day = windows["as_of_day"].isna()
    rows = [
        _refused(w, None, "no sensor readings for this farm") for w in windows[no_day].itertuples()
    ]
    windows = windows[~no_day].copy()
    windows["window_elapsed"] = elapsed_fraction(windows, windows["as_of_day"])
    points = sorted(forecaster.points)
    windows["forecast_point"] = [
        point_reached(w, w["as_of_day"].date(), points) for _, w in windows.iterrows()
    ]
    for point, group in windows.groupby("forecast_point", dropna=False):
        if pd.isna(point):
            rows += [
                _refused(
                    w,
                    w.as_of_day.date(),
                    f"only {w.window_elapsed:.0%} of the growing window has passed by "
                    f"{w.as_of_day.date()}; the earliest forecast point is {points[0]:.0%}",
                )
                for w in group.itertuples()
            ]
            continue
        features = build_season_features(
            readings, windows_at(group, float(point)), farms, min_coverage=0.0
        ).table.set_index(["farm_id", "season"])
        for w in group.itertuples():
            rows.append(
                _one_farm(w, features, forecaster, float(point), w.as_of_day.date(), min_coverage)
            )
    return pd.DataFrame(rows).sort_values("farm_id").reset_index(drop=True)


def _one_farm(
    window: object,
    features: pd.DataFrame,
    forecaster: SeasonForecaster,
    point: float,
    as_of: date,
    min_coverage: float,
) -> dict[str, object]:
    key = (window.farm_id, window.season)
    if key not in features.index:
        return _refused(window, as_of, f"no sensor readings in the growing window up to {as_of}")
    row = features.loc[key]
    coverage = float(row["sensor_coverage"])
    if coverage < min_coverage:
        return _refused(
            window,
            as_of,
            f"sensor coverage {coverage:.0%} of the window up to {as_of} is below "
            f"{min_coverage:.0%}",
            coverage,
        )
    reason = forecaster.refusal(row)
    if reason:
        return _refused(window, as_of, reason, coverage)
    frame = row.to_frame().T.reset_index(names=["farm_id", "season"])
    frame = frame.astype({c: features[c].dtype for c in features.columns})
    predicted = float(forecaster.predict(point, frame)[0])
    chosen = forecaster.points[point]
    low, high = chosen.interval.apply(np.array([predicted]))
    return {
        **_base(window, as_of),
        "forecast_point": point,
        "model": chosen.model.kind,
        "predicted_yield_t_ha": round(predicted, 3),
        "interval_low_t_ha": round(float(low[0]), 3),
        "interval_high_t_ha": round(float(high[0]), 3),
        "sensor_coverage": round(coverage, 3),
        "status": FORECAST,
        "note": chosen.reason,
    }


def _base(window: object, as_of: date | None) -> dict[str, object]:
    elapsed = getattr(window, "window_elapsed", np.nan)
    return {
        "farm_id": window.farm_id,
        "season": int(window.season),
        "crop": window.crop,
        "as_of": as_of.isoformat() if as_of else "",
        "window_elapsed": round(float(elapsed), 3),
    }


def _refused(
    window: object, as_of: date | None, reason: str, coverage: float | None = None
) -> dict[str, object]:
    return {
        **_base(window, as_of),
        "forecast_point": np.nan,
        "model": "",
        "predicted_yield_t_ha": np.nan,
        "interval_low_t_ha": np.nan,
        "interval_high_t_ha": np.nan,
        "sensor_coverage": np.nan if coverage is None else round(coverage, 3),
        "status": REFUSED,
        "note": reason,
    }
