"""Forecasts as of a date: the right point model, refusals with reasons, and, on generated
data cut halfway through the season, forecasts no worse than the farm×crop mean whose
intervals cover (where a whole-season model fails the same check)."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from yieldflow.config import PipelineConfig
from yieldflow.features.seasons import TARGET, build_season_features, windows_at
from yieldflow.ingest.dataset import ingest_dataset
from yieldflow.io.local import LocalSource
from yieldflow.io.storage import open_source
from yieldflow.ml.backtest import backtest_at_points, best_simple, tables_at_points
from yieldflow.ml.evaluation import evaluate_points
from yieldflow.ml.forecast import (
    FORECAST,
    REFUSED,
    ForecastError,
    elapsed_fraction,
    forecast_table,
    planned_windows,
)
from yieldflow.ml.forecaster import fit_forecaster
from yieldflow.ml.recipes import SIMPLE_MODELS, fit_model

POINTS = [0.5, 1.0]
CONFIG = PipelineConfig.model_validate(
    {
        "baselines": {"rf_n_estimators": 60},
        "evaluation": {"forecast_points": POINTS, "backtest_seasons": 4},
    }
)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """12 farms, 9 harvested seasons to learn from and a 10th whose truth is kept aside."""
    from yieldflow.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("forecast") / "data"
    generate_dataset(root, farms=12, seasons=10, first_season=2011, seed=11)
    ingested = ingest_dataset(open_source(root))
    harvests = ingested.harvests
    features = build_season_features(ingested.readings, harvests, ingested.farms, 0.7).table
    past, target = features[features["season"] < 2020], harvests[harvests["season"] == 2020]
    tables = tables_at_points(
        past, ingested.readings, harvests[harvests["season"] < 2020], ingested.farms, POINTS
    )
    predictions = evaluate_points(tables, CONFIG, harvest_models=SIMPLE_MODELS)
    results = backtest_at_points(predictions, best_simple(predictions[1.0]), CONFIG)
    forecaster = fit_forecaster(
        tables,
        {p: (r.chosen, r.interval, r.reason) for p, r in results.items()},
        CONFIG.training,
        CONFIG.baselines,
        CONFIG.seed,
    )
    return ingested, past, target, tables, forecaster


def forecast_each_farm_at(history, fraction: float, forecaster=None) -> pd.DataFrame:
    """Each farm of the held-out season forecast on the day `fraction` of its window has
    passed (farms are planted months apart, so each gets its own as-of day)."""
    ingested, _, target, _, fitted = history
    rows = []
    for _, window in target.iterrows():
        length = (window["harvest_date"] - window["planting_date"]).days
        as_of = (window["planting_date"] + timedelta(days=int(length * fraction))).date()
        planned = window.to_frame().T.assign(**{TARGET: np.nan}).infer_objects()
        rows.append(
            forecast_table(
                ingested.readings, planned, ingested.farms, forecaster or fitted, as_of, 0.7
            )
        )
    return pd.concat(rows, ignore_index=True).merge(target[["farm_id", TARGET]], on="farm_id")


def rmse(predicted, truth) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(truth)) ** 2)))


def honest(table: pd.DataFrame, mean_prediction: np.ndarray) -> tuple[bool, str]:
    """No worse than the farm×crop mean, and the 80% intervals cover (≥ 9 of 12)."""
    model_error = rmse(table["predicted_yield_t_ha"], table[TARGET])
    mean_error = rmse(mean_prediction, table[TARGET])
    inside = (table[TARGET] >= table["interval_low_t_ha"]) & (
        table[TARGET] <= table["interval_high_t_ha"]
    )
    detail = f"RMSE {model_error:.2f} vs mean {mean_error:.2f}, covered {inside.sum()}/12"
    return model_error <= mean_error * 1.02 and inside.sum() >= 9, detail


def test_a_mid_season_forecast_is_no_worse_than_the_farm_crop_mean_and_covers(history):
    past = history[1]
    mean = fit_model("farm_crop_mean", past, CONFIG.training, CONFIG.baselines, 0)
    table = forecast_each_farm_at(history, 0.6)
    assert (table["status"] == FORECAST).all() and (table["forecast_point"] == 0.5).all()
    ok, detail = honest(table, mean.predict(table))
    assert ok, detail


def test_a_whole_season_model_on_half_season_features_fails_the_same_check(history):
    """Today's behaviour before forecast points: the harvest model on half a season."""
    ingested, past, target, tables, forecaster = history
    whole = fit_model("linear", tables[1.0], CONFIG.training, CONFIG.baselines, 42)
    half = (
        build_season_features(ingested.readings, windows_at(target, 0.5), ingested.farms, 0.0)
        .table.drop(columns=TARGET)
        .merge(target[["farm_id", TARGET]], on="farm_id")
    )
    predicted = whole.predict(half)
    interval = forecaster.points[1.0].interval
    low, high = interval.apply(predicted)
    table = half.assign(
        predicted_yield_t_ha=predicted, interval_low_t_ha=low, interval_high_t_ha=high
    )
    mean = fit_model("farm_crop_mean", past, CONFIG.training, CONFIG.baselines, 0)
    ok, detail = honest(table, mean.predict(table))
    assert not ok, detail


def test_data_that_stops_halfway_is_forecast_as_of_each_farms_latest_reading(history):
    """No as-of day given: each farm is forecast as of its own latest reading, at the
    latest point its data reaches, as well as when the day is given."""
    ingested, past, target, _, forecaster = history
    stop = target.set_index("farm_id").pipe(
        lambda t: t["planting_date"] + (t["harvest_date"] - t["planting_date"]) * 0.6
    )
    local = ingested.readings["timestamp"].dt.tz_convert(None)
    readings = ingested.readings[local < ingested.readings["farm_id"].map(stop)]
    planned = target.assign(**{TARGET: np.nan})
    table = forecast_table(readings, planned, ingested.farms, forecaster, None, 0.7)
    assert (table["status"] == FORECAST).all() and (table["forecast_point"] == 0.5).all()
    last_day = readings.groupby("farm_id")["timestamp"].max().dt.tz_convert(None).dt.date
    assert (table["as_of"] == table["farm_id"].map(last_day).map(str)).all()
    table = table.merge(target[["farm_id", TARGET]], on="farm_id")
    mean = fit_model("farm_crop_mean", past, CONFIG.training, CONFIG.baselines, 0)
    ok, detail = honest(table, mean.predict(table))
    assert ok, detail


def test_the_forecast_uses_only_readings_up_to_its_day(history):
    ingested, *_ = history
    early = forecast_each_farm_at(history, 0.6)
    # Scramble every reading after each farm's as-of day: the forecast must not change.
    readings = ingested.readings.copy()
    cut = pd.to_datetime(early.set_index("farm_id")["as_of"]).add(pd.Timedelta(days=1))
    later = readings["timestamp"].dt.tz_convert(None) >= readings["farm_id"].map(cut)
    readings.loc[later, "air_temp_c"] = 55.0
    scrambled = forecast_each_farm_at(
        (ingested.__class__(**{**ingested.__dict__, "readings": readings}), *history[1:]), 0.6
    )
    pd.testing.assert_series_equal(early["predicted_yield_t_ha"], scrambled["predicted_yield_t_ha"])


def test_too_early_too_thin_or_unseen_farms_are_refused_with_their_reason(history):
    ingested, _, target, _, forecaster = history
    window = target.iloc[[0]].assign(**{TARGET: np.nan})
    start = window["planting_date"].iloc[0].date()
    early = forecast_table(
        ingested.readings, window, ingested.farms, forecaster, start + timedelta(days=3), 0.7
    )
    assert early["status"].tolist() == [REFUSED]
    assert "earliest forecast point is 50%" in early["note"].iloc[0]

    barley = window.assign(crop="Barley")
    as_of = (window["harvest_date"].iloc[0] - timedelta(days=1)).date()
    refused = forecast_table(ingested.readings, barley, ingested.farms, forecaster, as_of, 0.7)
    assert refused["status"].tolist() == [REFUSED]
    assert "crop Barley was never in the champion's training harvests" in refused["note"].iloc[0]
    assert np.isnan(refused["predicted_yield_t_ha"].iloc[0])

    no_readings = ingested.readings[ingested.readings["farm_id"] != window["farm_id"].iloc[0]]
    thin = forecast_table(no_readings, window, ingested.farms, forecaster, as_of, 0.7)
    assert thin["note"].iloc[0].startswith("sensor coverage 0% of the window up to")


def test_elapsed_fraction_counts_the_whole_as_of_day():
    windows = pd.DataFrame(
        {
            "planting_date": pd.to_datetime(["2025-05-01"]),
            "harvest_date": pd.to_datetime(["2025-05-11"]),
        }
    )
    assert elapsed_fraction(windows, date(2025, 5, 5)).iloc[0] == pytest.approx(0.5)
    assert elapsed_fraction(windows, date(2025, 6, 1)).iloc[0] == 1.0


def write_planned(root, text):
    (root / "planned_seasons.csv").write_text(text)
    return LocalSource(root)


def test_planned_windows_pick_the_latest_season_by_default(tmp_path):
    source = write_planned(
        tmp_path,
        "farm_id,season,crop,planting_date,harvest_date\n"
        "F1,2025,Maize,2025-05-01,2025-09-01\nF1,2026,Wheat,2026-04-01,2026-07-20\n",
    )
    windows = planned_windows(source, None)
    assert list(windows["season"]) == [2026] and windows["yield_t_ha"].isna().all()
    assert windows["planting_date"].iloc[0] == pd.Timestamp("2026-04-01")


def test_a_missing_season_or_file_is_a_clear_error(tmp_path):
    with pytest.raises(ForecastError, match=r"planned_seasons\.csv not found"):
        planned_windows(LocalSource(tmp_path), 2026)
    source = write_planned(
        tmp_path,
        "farm_id,season,crop,planting_date,harvest_date\nF1,2025,Maize,2025-05-01,2025-09-01\n",
    )
    with pytest.raises(ForecastError, match=r"no rows for season 2030 \(has: 2025\)"):
        planned_windows(source, 2030)
