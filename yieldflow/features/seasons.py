"""Season features per farm, computed from the growing window only (planting → harvest).

Readings are first reduced to one row per farm and local day, then each harvest takes the
days of its own window (and the 30-day lead before planting for soil moisture at
planting). Everything is grouped pandas/numpy: no per-row Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from yieldflow.features.agronomy import (
    CROP_GDD_BASE_C,
    CROP_HEAT_STRESS_C,
    DEFAULT_GDD_BASE_C,
    DEFAULT_HEAT_STRESS_C,
    DRY_DAY_RAIN_MM,
    DRY_SPELL_MIN_DAYS,
    FROST_C,
    LEAD_DAYS,
    W_M2_DAY_TO_MJ_M2,
)

KEY = ["farm_id", "season"]
NUMERIC_FEATURES: tuple[str, ...] = (
    "gdd_c_days",
    "rain_mm",
    "dry_spells",
    "heat_stress_days",
    "frost_days",
    "soil_moisture_mean_pct",
    "soil_moisture_min_pct",
    "soil_moisture_at_planting_pct",
    "radiation_mj_m2",
    "humidity_mean_pct",
    "wind_mean_ms",
    "season_length_days",
    "irrigated",
    "sensor_coverage",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("crop", "soil_type")
TARGET = "yield_t_ha"


@dataclass
class SeasonFeatures:
    table: pd.DataFrame  # one row per usable harvest: KEY, features, target
    excluded: pd.DataFrame  # farm_id, season, reason: harvests left out of training


def daily_weather(readings: pd.DataFrame, farms: pd.DataFrame) -> pd.DataFrame:
    """One row per farm and local calendar day with the daily aggregates features need.

    Ingestion hands over readings sorted by farm and time, so each (farm, day) is already
    one run of rows: the days are reduced run by run (ufunc.reduceat) instead of through
    a groupby, which would factorise both keys and copy every column into group order.
    Rows in any other order are put in (farm, day) order first.
    """
    farm_codes, farm_ids = pd.factorize(readings["farm_id"], sort=True)  # -1: no farm_id
    local = _local_times(readings, farms, farm_codes, farm_ids)  # in the readings' unit
    known = ~np.isnat(local) & (farm_codes >= 0)
    day = local.astype("datetime64[D]")
    order = _day_order(farm_codes, day, known)  # None: every row, already in order

    def in_order(values: np.ndarray) -> np.ndarray:
        return values if order is None else values[order]

    farm_codes, day, local = in_order(farm_codes), in_order(day), in_order(local)
    starts = np.flatnonzero(
        np.concatenate(([True], (farm_codes[1:] != farm_codes[:-1]) | (day[1:] != day[:-1])))
    )
    if farm_codes.size == 0:
        starts = starts[:0]

    def column(name: str) -> np.ndarray:
        return in_order(readings[name].to_numpy("float64", na_value=np.nan))

    def per_day(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values, starts) if starts.size else values[:0]

    def reduced(name: str, exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
        values = column(name)  # -> the sum of the measured values, and their count
        measured = ~np.isnan(values)
        values = np.where(measured, values, 0.0)
        total = _exact_sums(values, starts) if exact else per_day(np.add, values)
        return total, per_day(np.add, measured * 1)

    def mean(name: str) -> np.ndarray:
        total, count = reduced(name)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    air = column("air_temp_c")
    # Rain is compared with a threshold (a dry day has < 1 mm), so its sum must not depend
    # on the order of addition: 0.1 + 0.2 + 0.7 summed naively is 0.9999999999999999.
    rain, rain_count = reduced("rainfall_mm", exact=True)
    daily = pd.DataFrame(
        {
            "farm_id": farm_ids.take(farm_codes[starts]),
            "day": day[starts].astype(local.dtype),
            "tmin_c": per_day(np.fmin, air),  # fmin/fmax skip NaN; an all-NaN day stays NaN
            "tmax_c": per_day(np.fmax, air),
            # A day whose rain was never measured has unknown rain, not zero rain.
            "rain_mm": np.where(rain_count > 0, rain, np.nan),
            "humidity_pct": mean("relative_humidity_pct"),
            "soil_moisture_pct": mean("soil_moisture_pct"),
            "radiation_wm2": mean("solar_radiation_wm2"),
            "wind_ms": mean("wind_speed_ms"),
        }
    )
    # Coverage counts distinct hours with an air temperature, so 15-minute loggers do not
    # look four times as complete as hourly ones: a day × hour grid of seen hours.
    measured = ~np.isnan(air)
    run_of_row = np.repeat(np.arange(starts.size), np.diff(np.append(starts, local.size)))
    hour = (local - day.astype(local.dtype)) // np.timedelta64(1, "h")
    seen = np.zeros((len(daily), 24), dtype=bool)
    seen[run_of_row[measured], hour[measured]] = True  # no sort, no hashing
    daily["hours_covered"] = seen.sum(axis=1)
    return daily


def _exact_sums(values: np.ndarray, starts: np.ndarray, rows: int = 2**20) -> np.ndarray:
    """Per-run sums, correctly rounded: added in extended precision (x86's 80-bit long
    double; where long double is just a double, this is plain summation), a chunk of
    about `rows` rows at a time so the wide copy stays small."""
    sums = np.empty(starts.size, dtype="float64")
    ends = np.append(starts[1:], values.size)
    first = 0
    while first < starts.size:
        last = max(int(np.searchsorted(starts, starts[first] + rows)), first + 1)
        chunk = values[starts[first] : ends[last - 1]].astype(np.longdouble)
        sums[first:last] = np.add.reduceat(chunk, starts[first:last] - starts[first])
        first = last
    return sums


def _day_order(farm_codes: np.ndarray, day: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """Positions of the rows with a farm and a time, in (farm, day) order, by a stable
    sort; None when that is every row as it comes (ingestion's order: no copies made)."""
    if known.all():
        later = farm_codes[1:] > farm_codes[:-1]
        if (later | ((farm_codes[1:] == farm_codes[:-1]) & (day[1:] >= day[:-1]))).all():
            return None
    rows = np.flatnonzero(known)
    return rows[np.lexsort((day[rows], farm_codes[rows]))]


def _local_times(
    readings: pd.DataFrame, farms: pd.DataFrame, farm_codes: np.ndarray, farm_ids: pd.Index
) -> np.ndarray:
    """Naive local wall-clock time per reading (farm timezone when known, else UTC), from
    the readings' farm codes (pd.factorize: codes, uniques) that daily_weather has made."""
    local = readings["timestamp"].dt.tz_convert(None)
    if "timezone" not in farms or farms["timezone"].isna().all():
        return local.to_numpy()
    given = farms.dropna(subset=["timezone"])
    zone_of = dict(zip(given["farm_id"], given["timezone"], strict=True))  # last row wins
    zone_codes, zones = pd.factorize(farm_ids.map(zone_of))  # -1: a farm without a zone
    # One extra slot maps a missing farm_id (code -1) to "no zone".
    row_zone = np.append(zone_codes, -1)[farm_codes]
    values = local.to_numpy().copy()
    # One conversion per distinct zone (a handful), written positionally: a loop over farms
    # with masked Series assignment grows with farms × rows.
    for code, zone in enumerate(zones):
        rows = np.flatnonzero(row_zone == code)
        if rows.size and zone:
            utc = pd.DatetimeIndex(values[rows]).tz_localize("UTC")
            values[rows] = utc.tz_convert(zone).tz_localize(None).to_numpy()
    return values


def season_features(
    daily: pd.DataFrame, harvests: pd.DataFrame, farms: pd.DataFrame, min_coverage: float
) -> SeasonFeatures:
    """Aggregate each harvest's growing window; leave out harvests with thin coverage.

    A ``window_end`` column (optional) cuts the window short: the features of a season as
    seen on that day, for forecasts made before harvest. Coverage is then measured over the
    window up to that day; ``season_length_days`` stays the planned length.
    """
    if "window_end" not in harvests:
        harvests = harvests.assign(window_end=harvests["harvest_date"])
    harvests = harvests.merge(
        farms[["farm_id", "soil_type", "irrigated"]], on="farm_id", how="left"
    ).assign(
        soil_type=lambda f: f["soil_type"].fillna("unknown").astype(str),
        irrigated=lambda f: f["irrigated"].fillna(False).astype(bool).astype(float),
        # astype: with no harvest rows at all, map() would keep the str dtype of "crop"
        gdd_base_c=lambda f: (
            f["crop"].map(CROP_GDD_BASE_C).fillna(DEFAULT_GDD_BASE_C).astype(float)
        ),
        heat_c=lambda f: (
            f["crop"].map(CROP_HEAT_STRESS_C).fillna(DEFAULT_HEAT_STRESS_C).astype(float)
        ),
        season_length_days=lambda f: (f["harvest_date"] - f["planting_date"]).dt.days,
    )
    days = daily.merge(harvests[[*KEY, "planting_date", "window_end", "gdd_base_c", "heat_c"]])
    in_window = (days["day"] >= days["planting_date"]) & (days["day"] < days["window_end"])
    lead_start = days["planting_date"] - pd.Timedelta(days=LEAD_DAYS)
    in_lead = (days["day"] >= lead_start) & (days["day"] < days["planting_date"])

    window = days[in_window].sort_values([*KEY, "day"])
    tmean = (window["tmin_c"] + window["tmax_c"]) / 2
    window = window.assign(
        gdd=(tmean - window["gdd_base_c"]).clip(lower=0),
        heat=(window["tmax_c"] > window["heat_c"]).astype(float),
        frost=(window["tmin_c"] < FROST_C).astype(float),
        dry_spell_start=_dry_spell_starts(window),
    )
    agg = window.groupby(KEY).agg(
        gdd_c_days=("gdd", "sum"),
        rain_mm=("rain_mm", "sum"),
        dry_spells=("dry_spell_start", "sum"),
        heat_stress_days=("heat", "sum"),
        frost_days=("frost", "sum"),
        soil_moisture_mean_pct=("soil_moisture_pct", "mean"),
        soil_moisture_min_pct=("soil_moisture_pct", "min"),
        radiation_mj_m2=("radiation_wm2", "sum"),
        humidity_mean_pct=("humidity_pct", "mean"),
        wind_mean_ms=("wind_ms", "mean"),
        hours_covered=("hours_covered", "sum"),
    )
    agg["radiation_mj_m2"] *= W_M2_DAY_TO_MJ_M2
    lead = days[in_lead].groupby(KEY)["soil_moisture_pct"].mean()
    agg["soil_moisture_at_planting_pct"] = lead.reindex(agg.index)

    table = harvests.merge(agg.reset_index(), on=KEY, how="left")
    window_days = (table["window_end"] - table["planting_date"]).dt.days.clip(lower=1)
    table["sensor_coverage"] = (table["hours_covered"].fillna(0) / (window_days * 24)).clip(
        upper=1.0
    )
    low = table["sensor_coverage"] < min_coverage
    excluded = table.loc[low, KEY].assign(
        reason=table.loc[low, "sensor_coverage"].map(
            lambda c: f"sensor coverage {c:.0%} of the growing window is below {min_coverage:.0%}"
        )
    )
    columns = [*KEY, *CATEGORICAL_FEATURES, *NUMERIC_FEATURES, TARGET]
    usable = table.loc[~low, columns].sort_values(KEY).reset_index(drop=True)
    return SeasonFeatures(table=usable, excluded=excluded.reset_index(drop=True))


def _dry_spell_starts(window: pd.DataFrame) -> pd.Series:
    """1.0 on the day a run of DRY_SPELL_MIN_DAYS consecutive dry days completes.

    Runs are split at harvest boundaries, at non-dry days and at calendar gaps (a missing
    day is unknown, so it cannot extend a dry run).
    """
    dry = window["rain_mm"] < DRY_DAY_RAIN_MM
    same_harvest = (window["farm_id"] == window["farm_id"].shift()) & (
        window["season"] == window["season"].shift()
    )
    consecutive = same_harvest & (window["day"] - window["day"].shift() == pd.Timedelta(days=1))
    run_id = (~(dry & dry.shift(fill_value=False) & consecutive)).cumsum()
    run_length = dry.groupby(run_id).cumsum()
    return ((run_length == DRY_SPELL_MIN_DAYS) & dry).astype(float)


def windows_at(harvests: pd.DataFrame, point: float) -> pd.DataFrame:
    """Each growing window cut at ``point`` (a fraction, 1.0 = harvest) of its length."""
    if point >= 1.0:
        return harvests
    length = harvests["harvest_date"] - harvests["planting_date"]
    return harvests.assign(window_end=harvests["planting_date"] + (length * point).dt.floor("D"))


def build_season_features(
    readings: pd.DataFrame, harvests: pd.DataFrame, farms: pd.DataFrame, min_coverage: float
) -> SeasonFeatures:
    """Readings + harvests → one feature row per usable harvest."""
    return season_features(daily_weather(readings, farms), harvests, farms, min_coverage)
