import numpy as np
import pandas as pd
import pytest

from yieldflow.contract import SENSOR_VALUE_COLUMNS
from yieldflow.features.seasons import NUMERIC_FEATURES, build_season_features

PLANT, HARVEST = pd.Timestamp("2023-05-01"), pd.Timestamp("2023-06-01")


def hourly(farm: str, start: str, end: str, **values: float) -> pd.DataFrame:
    stamps = pd.date_range(start, end, freq="h", inclusive="left", tz="UTC")
    frame = pd.DataFrame({"farm_id": farm, "timestamp": stamps})
    for column in SENSOR_VALUE_COLUMNS:
        frame[column] = values.get(column, np.nan)
    return frame


def window_readings(farm: str = "F1") -> pd.DataFrame:
    """Lead month wet, window mild with one rainy day, and extreme weather outside it."""
    lead = hourly(
        farm, "2023-04-01", "2023-05-01", air_temp_c=50.0, rainfall_mm=0.0, soil_moisture_pct=30.0
    )
    window = hourly(
        farm,
        "2023-05-01",
        "2023-06-01",
        air_temp_c=20.0,
        rainfall_mm=0.0,
        soil_moisture_pct=20.0,
        solar_radiation_wm2=100.0,
        relative_humidity_pct=60.0,
        wind_speed_ms=3.0,
    )
    rainy = window["timestamp"].dt.day == 5
    window.loc[rainy, "rainfall_mm"] = 2.0
    after = hourly(farm, "2023-06-01", "2023-07-01", air_temp_c=-20.0, rainfall_mm=100.0)
    return pd.concat([lead, window, after], ignore_index=True)


def harvest(farm="F1", crop="Maize", season=2023, planting=PLANT, harvest_date=HARVEST):
    return pd.DataFrame(
        [
            {
                "farm_id": farm,
                "season": season,
                "crop": crop,
                "planting_date": planting,
                "harvest_date": harvest_date,
                "yield_t_ha": 9.0,
            }
        ]
    )


FARMS = pd.DataFrame([{"farm_id": "F1", "soil_type": "Loam", "irrigated": True, "timezone": None}])


def test_features_use_only_the_growing_window():
    result = build_season_features(window_readings(), harvest(), FARMS, min_coverage=0.7)
    row = result.table.iloc[0]
    assert row["gdd_c_days"] == pytest.approx(31 * (20 - 10))  # maize base 10 °C
    assert row["heat_stress_days"] == 0 and row["frost_days"] == 0  # 50 °C / -20 °C outside
    assert row["rain_mm"] == pytest.approx(48.0)  # the 100 mm/h after harvest is excluded
    assert row["dry_spells"] == 1  # days 1-4 too short; days 6-31 one spell
    assert row["soil_moisture_mean_pct"] == pytest.approx(20.0)
    assert row["soil_moisture_at_planting_pct"] == pytest.approx(30.0)  # from the lead month
    assert row["radiation_mj_m2"] == pytest.approx(31 * 100 * 0.0864)
    assert row["sensor_coverage"] == pytest.approx(1.0)
    assert row["season_length_days"] == 31 and row["irrigated"] == 1.0
    assert (row["crop"], row["soil_type"]) == ("Maize", "Loam")
    assert set(NUMERIC_FEATURES) <= set(result.table.columns)


def test_crop_sets_the_gdd_base():
    wheat = build_season_features(window_readings(), harvest(crop="Wheat"), FARMS, 0.7)
    assert wheat.table.iloc[0]["gdd_c_days"] == pytest.approx(31 * 20)  # wheat base 0 °C


def test_thin_coverage_is_left_out_with_a_reason():
    readings = window_readings()
    in_window = (readings["timestamp"] >= "2023-05-01") & (readings["timestamp"] < "2023-06-01")
    gap = in_window & (readings["timestamp"].dt.day > 10)
    result = build_season_features(readings[~gap], harvest(), FARMS, min_coverage=0.7)
    assert result.table.empty
    assert result.excluded.iloc[0]["farm_id"] == "F1"
    assert "coverage 32%" in result.excluded.iloc[0]["reason"]


def test_a_harvest_without_any_sensor_data_is_excluded_not_dropped():
    harvests = pd.concat([harvest(), harvest(farm="F2")], ignore_index=True)
    result = build_season_features(window_readings(), harvests, FARMS, min_coverage=0.7)
    assert list(result.table["farm_id"]) == ["F1"]
    assert list(result.excluded["farm_id"]) == ["F2"]


def test_local_timezone_decides_which_day_a_reading_belongs_to():
    readings = window_readings()
    farms = FARMS.assign(timezone="Pacific/Auckland")  # UTC+12: window shifts by half a day
    utc = build_season_features(readings, harvest(), FARMS, 0.0).table.iloc[0]
    local = build_season_features(readings, harvest(), farms, 0.0).table.iloc[0]
    assert local["gdd_c_days"] != utc["gdd_c_days"]  # 50 °C lead hours enter the first day


def test_daily_weather_does_not_depend_on_row_order():
    """Ingestion's (farm, time) order is the fast path; any other order (another farm in
    between, a shuffle, a gap in the values, a DST change) gives the same days."""
    from yieldflow.features.seasons import daily_weather

    second = window_readings("F0").assign(air_temp_c=lambda f: f["air_temp_c"] - 5.0)
    readings = pd.concat([window_readings(), second], ignore_index=True)
    readings.loc[readings.index % 7 == 0, "air_temp_c"] = np.nan  # unmeasured hours
    readings.loc[readings.index % 11 == 0, "rainfall_mm"] = np.nan
    berlin_day = readings["timestamp"].dt.tz_convert("Europe/Berlin").dt.day
    no_rain = (readings["farm_id"] == "F1") & (berlin_day == 9)  # a local day without rain
    readings.loc[no_rain, "rainfall_mm"] = np.nan
    quarter = readings[(readings["farm_id"] == "F1") & (berlin_day == 10)]  # 15-minute logger
    quarter = quarter.assign(timestamp=quarter["timestamp"] + pd.Timedelta(minutes=15))
    readings = pd.concat([readings, quarter], ignore_index=True)
    farms = pd.concat([FARMS, FARMS.assign(farm_id="F0")], ignore_index=True)
    farms["timezone"] = ["Europe/Berlin", "America/Chicago"]
    ordered = readings.sort_values(["farm_id", "timestamp"], ignore_index=True)
    shuffled = readings.sample(frac=1.0, random_state=3).reset_index(drop=True)

    expected = daily_weather(ordered, farms)
    for other in (readings, shuffled):  # F1 before F0; no order at all
        pd.testing.assert_frame_equal(daily_weather(other, farms), expected)
    assert list(expected["farm_id"].unique()) == ["F0", "F1"]
    assert expected["day"].is_monotonic_increasing is False  # two farms, each in day order
    day9 = expected[(expected["farm_id"] == "F1") & (expected["day"].dt.day == 9)]
    assert day9["rain_mm"].isna().all() and (expected["rain_mm"].notna().sum() > 100)
    # Hours with an air temperature, not readings: 24 a day at most, fewer where unmeasured
    assert expected["hours_covered"].max() <= 24 and expected["hours_covered"].min() > 0
    whole = expected[(expected["farm_id"] == "F1") & (expected["day"] == "2023-05-10")].iloc[0]
    by_hand = readings[(readings["farm_id"] == "F1")]
    local = by_hand["timestamp"].dt.tz_convert("Europe/Berlin")
    that_day = by_hand[local.dt.strftime("%Y-%m-%d") == "2023-05-10"]
    assert whole["tmin_c"] == that_day["air_temp_c"].min()
    measured = that_day.loc[that_day["air_temp_c"].notna(), "timestamp"]
    assert whole["hours_covered"] == measured.dt.tz_convert("Europe/Berlin").dt.hour.nunique()
    assert len(measured) > whole["hours_covered"] > 12  # two readings in most hours
    assert whole["rain_mm"] == pytest.approx(that_day["rainfall_mm"].sum())


def test_daily_rain_sums_do_not_depend_on_the_order_of_addition():
    """A day of 0.1 + 0.2 + 0.7 mm has 1 mm of rain, so it is not dry: summed naively it
    is 0.9999999999999999 mm (below the 1 mm threshold); summed exactly, 1.0."""
    import math

    from yieldflow.features.seasons import _exact_sums, daily_weather

    readings = hourly("F1", "2023-05-01", "2023-05-02", air_temp_c=10.0, rainfall_mm=0.0)
    readings.loc[:2, "rainfall_mm"] = [0.1, 0.2, 0.7]
    assert np.add.reduceat(readings["rainfall_mm"].to_numpy(), [0])[0] < 1.0  # the trap
    assert daily_weather(readings, FARMS)["rain_mm"].tolist() == [1.0]

    rng = np.random.default_rng(1)
    values = np.round(rng.exponential(0.3, 50_000), 1)
    starts = np.unique(np.concatenate(([0], rng.integers(0, values.size, 2_000))))
    ends = np.append(starts[1:], values.size)
    exact = [math.fsum(values[a:b]) for a, b in zip(starts, ends, strict=True)]
    assert _exact_sums(values, starts, rows=1_000).tolist() == exact  # chunks included
