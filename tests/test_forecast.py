import numpy as np
import pandas as pd
import pytest

from tests.test_split import feature_table
from yieldflow.forecast import (
    ForecastError,
    SignatureMismatchError,
    forecast_table,
    planned_windows,
)
from yieldflow.split import FeatureEncoder
from yieldflow.storage import LocalSource


def test_features_that_do_not_match_the_signature_are_refused_before_predicting():
    table = feature_table(seasons=(2020, 2021))
    encoder = FeatureEncoder.fit(table)
    expected = [*encoder.feature_names, "crop=Barley"]  # the champion knew another crop

    def never_called(frame):
        raise AssertionError("predict must not run on mismatched features")

    with pytest.raises(SignatureMismatchError, match=r"missing \['crop=Barley'\]"):
        forecast_table(table, encoder, expected, never_called, (0.9, 1.1))


def test_forecast_rows_carry_the_interval_around_the_prediction():
    table = feature_table(seasons=(2020,))
    encoder = FeatureEncoder.fit(table)
    result = forecast_table(
        table, encoder, encoder.feature_names, lambda f: np.full(len(f), 10.0), (0.8, 1.25)
    )
    assert list(result["predicted_yield_t_ha"]) == [10.0] * len(table)
    assert list(result["interval_low_t_ha"]) == [8.0] * len(table)
    assert list(result["interval_high_t_ha"]) == [12.5] * len(table)


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
