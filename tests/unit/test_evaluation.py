import numpy as np
import pandas as pd
import pytest

import yieldflow.ml.recipes as recipes
from tests.support.data import feature_table
from yieldflow.config import BaselineConfig, PipelineConfig, TrainingConfig
from yieldflow.ml.evaluation import (
    Fold,
    cross_validate,
    evaluate_fold,
    fold_scores,
    per_fold,
    rolling_origin_folds,
    summary_table,
)
from yieldflow.ml.recipes import ALL_MODELS


def test_folds_train_on_every_earlier_season_only():
    folds = rolling_origin_folds([2024, 2020, 2021, 2022, 2023, 2021])
    assert [f.val for f in folds] == [2022, 2023, 2024]
    for fold in folds:
        assert fold.train == list(range(2020, fold.val))
        assert max(fold.train) < fold.val


def test_folds_need_two_training_seasons():
    assert rolling_origin_folds([2022, 2023]) == []
    assert rolling_origin_folds(range(2015, 2020), min_train_seasons=3)[0].val == 2018


def test_no_fold_fits_anything_on_its_validation_season(monkeypatch):
    table = feature_table(seasons=(2020, 2021, 2022, 2023))
    seen: list[set[int]] = []
    real_fit = recipes.FeatureEncoder.fit

    def spy_fit(frame):
        seen.append(set(frame["season"]))
        return real_fit(frame)

    monkeypatch.setattr(recipes.FeatureEncoder, "fit", staticmethod(spy_fit))
    fold = Fold(train=[2020, 2021, 2022], val=2023)
    predictions = evaluate_fold(
        table, fold, TrainingConfig(max_epochs=5), BaselineConfig(rf_n_estimators=10), [0, 1]
    )
    assert seen and all(2023 not in s for s in seen)
    assert set(predictions["season"]) == {2023}
    assert set(predictions["model"]) == set(ALL_MODELS)
    assert set(predictions.loc[predictions["model"] == "mlp", "seed"]) == {0, 1}


def test_the_mlp_learns_from_the_same_seasons_as_the_baselines(monkeypatch):
    """Early stopping picks the epochs on the last training season; the refit then learns
    from every training season, as the simple models do."""
    table = feature_table(seasons=(2020, 2021, 2022, 2023), farms=4)
    calls = []
    real_train = recipes.train_mlp

    def spy_train(x_train, y_train, x_val, y_val, config, seed, **kwargs):
        result = real_train(x_train, y_train, x_val, y_val, config, seed, **kwargs)
        calls.append((len(x_train), len(x_val), config.max_epochs, kwargs, result.best_epoch))
        return result

    monkeypatch.setattr(recipes, "train_mlp", spy_train)
    fold = Fold(train=[2020, 2021, 2022], val=2023)
    evaluate_fold(
        table, fold, TrainingConfig(max_epochs=30), BaselineConfig(rf_n_estimators=10), [7]
    )
    (inner_rows, stop_rows, _, inner_kwargs, best), (refit_rows, _, epochs, refit_kwargs, _) = calls
    assert (inner_rows, stop_rows) == (8, 4)  # 2020-2021 fit, 2022 early-stops
    assert inner_kwargs == {}
    assert refit_rows == 12  # every training season, like the baselines
    assert epochs == best and refit_kwargs == {"early_stopping": False, "keep_last": True}


def test_a_fold_counts_its_steps_for_progress():
    table = feature_table(seasons=(2020, 2021, 2022))
    steps: list[int] = []
    evaluate_fold(
        table,
        Fold(train=[2020, 2021], val=2022),
        TrainingConfig(max_epochs=3),
        BaselineConfig(rf_n_estimators=10),
        [0, 1, 2],
        steps.append,
    )
    assert steps == [1, 2, 3, 4]  # each MLP seed, then the simple models


def predictions_frame() -> pd.DataFrame:
    # Two crops ten-fold apart: the same relative error must give the same NRMSE.
    return pd.DataFrame(
        {
            "farm_id": ["A", "B", "C", "D"] * 2,
            "season": [2022, 2022, 2023, 2023] * 2,
            "crop": ["Potato", "Soybean"] * 4,
            "model": ["mlp"] * 4 + ["crop_mean"] * 4,
            "seed": [0] * 4 + [-1] * 4,
            "y_true": [40.0, 4.0, 40.0, 4.0] * 2,
            "y_pred": [44.0, 4.4, 40.0, 4.0, 36.0, 4.0, 40.0, 2.0],
        }
    )


def test_scores_are_per_crop_scale_free():
    scores = fold_scores(predictions_frame())
    nrmse = per_fold(scores, "nrmse")
    assert nrmse.loc["mlp", 2022] == pytest.approx(0.1)  # 10% on potato and on soybean
    rmse = per_fold(scores, "rmse")
    assert rmse.loc["mlp", 2022] == pytest.approx(np.sqrt((16 + 0.16) / 2))
    assert nrmse.loc["crop_mean", 2023] == pytest.approx(np.sqrt(0.25 / 2))
    summary = summary_table(scores)
    assert summary.loc["crop_mean", "skill_vs_crop_mean"] == 0
    assert summary.loc["mlp", "skill_vs_crop_mean"] == pytest.approx(
        1 - summary.loc["mlp", "nrmse_mean"] / summary.loc["crop_mean", "nrmse_mean"]
    )


def test_cross_validation_reports_every_model_per_crop_with_a_verdict():
    table = feature_table(seasons=(2019, 2020, 2021, 2022, 2023), farms=4)
    config = PipelineConfig.model_validate(
        {
            "training": {"max_epochs": 5},
            "baselines": {"rf_n_estimators": 10},
            "evaluation": {"mlp_seeds": 2},
        }
    )
    cv = cross_validate(table, config)
    assert [f.val for f in cv.folds] == [2021, 2022, 2023]
    assert set(cv.summary.index) == set(ALL_MODELS)
    section = cv.as_dict()
    assert set(section["per_crop"]["mlp"]) == {"Maize", "Sorghum"}
    assert {"rmse", "nrmse", "mape"} <= set(section["per_crop"]["mlp"]["Maize"])
    assert section["verdict"] == cv.verdict.label and "90% interval" in section["sentence"]
    assert section["comparisons"]["crop_mean"]["interval_90"][0] is not None
