import numpy as np
import pandas as pd
import pytest

import yieldflow.evaluation as evaluation
from tests.test_split import feature_table
from yieldflow.config import BaselineConfig, TrainingConfig
from yieldflow.evaluation import (
    Fold,
    evaluate_fold,
    farm_mean_predictions,
    fold_scores,
    paired_verdict,
    per_fold,
    residual_quantiles,
    rolling_origin_folds,
    summary_table,
)


def test_folds_train_on_every_earlier_season_only():
    folds = rolling_origin_folds([2024, 2020, 2021, 2022, 2023, 2021])
    assert [f.val for f in folds] == [2022, 2023, 2024]
    for fold in folds:
        assert fold.train == list(range(2020, fold.val))
        assert max(fold.train) < fold.val


def test_folds_need_two_training_seasons():
    assert rolling_origin_folds([2022, 2023]) == []
    assert rolling_origin_folds(range(2015, 2020), min_train_seasons=3)[0].val == 2018


def fold_table(mlp, simple, other=None):
    columns = [2022, 2023, 2024]
    rows = {"mlp": mlp, "random_forest": simple, "linear": other or [9.0, 9.0, 9.0]}
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def test_clearly_better_mlp_is_called_better():
    verdict = paired_verdict(fold_table([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]))
    assert verdict.label == "better" and verdict.recommended == "mlp"
    assert verdict.mean_difference == pytest.approx(-1.0)
    assert verdict.sentence().startswith("The MLP is better")


def test_identical_model_is_no_better_and_the_simple_one_is_recommended():
    verdict = paired_verdict(fold_table([2.0, 2.1, 1.9], [2.0, 2.1, 1.9]))
    assert verdict.label == "no better than" and verdict.recommended == "random_forest"
    assert "recommended: random_forest" in verdict.sentence()


def test_mixed_signs_are_not_a_win_even_with_a_good_mean():
    verdict = paired_verdict(fold_table([0.5, 0.5, 2.2], [2.0, 2.0, 2.0]))
    assert verdict.label == "no better than"


def test_clearly_worse_mlp():
    assert paired_verdict(fold_table([3.0, 3.1, 2.9], [2.0, 2.1, 1.9])).label == "worse than"


def test_best_simple_model_is_chosen_by_mean_fold_rmse():
    verdict = paired_verdict(fold_table([2.0, 2.0, 2.0], [3.0, 3.0, 3.0], other=[1.0, 5.0, 1.0]))
    assert verdict.best_simple == "linear"  # mean 2.33 < 3.0


def test_farm_mean_uses_the_farm_history_and_falls_back_to_the_overall_mean():
    train = pd.DataFrame({"farm_id": ["A", "A", "B"], "yield_t_ha": [2.0, 4.0, 9.0]})
    target = pd.DataFrame({"farm_id": ["A", "C"]})
    np.testing.assert_allclose(farm_mean_predictions(train, target), [3.0, 5.0])


def test_no_fold_fits_anything_on_its_validation_season(monkeypatch):
    table = feature_table(seasons=(2020, 2021, 2022, 2023))
    seen: list[set[int]] = []
    real_fit = evaluation.FeatureEncoder.fit

    def spy_fit(frame):
        seen.append(set(frame["season"]))
        return real_fit(frame)

    monkeypatch.setattr(evaluation.FeatureEncoder, "fit", staticmethod(spy_fit))
    stop_targets: list[np.ndarray] = []
    real_train = evaluation.train_mlp

    def spy_train(x_train, y_train, x_val, y_val, *args, **kwargs):
        stop_targets.append(y_val)
        return real_train(x_train, y_train, x_val, y_val, *args, **kwargs)

    monkeypatch.setattr(evaluation, "train_mlp", spy_train)
    fold = Fold(train=[2020, 2021, 2022], val=2023)
    predictions = evaluate_fold(
        table, fold, TrainingConfig(max_epochs=5), BaselineConfig(rf_n_estimators=10), [0, 1]
    )
    assert seen and all(2023 not in s for s in seen)
    assert seen[0] == {2020, 2021}  # the MLP's encoder: not even its early-stopping season
    stop_season_targets = table.loc[table["season"] == 2022, "yield_t_ha"].to_numpy()
    for y in stop_targets:
        np.testing.assert_array_equal(y, stop_season_targets)
    assert set(predictions["season"]) == {2023}
    assert set(predictions["model"]) == {
        "mlp",
        "random_forest",
        "linear",
        "mean_baseline",
        "farm_mean",
    }
    assert set(predictions.loc[predictions["model"] == "mlp", "seed"]) == {0, 1}


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
    assert steps == [1, 2, 3, 4]  # each MLP seed, then the baselines


def test_scores_summary_and_residuals():
    predictions = pd.DataFrame(
        {
            "farm_id": ["A", "B"] * 4,
            "season": [2022, 2022, 2023, 2023] * 2,
            "model": ["mlp"] * 4 + ["linear"] * 4,
            "seed": [0, 0, 0, 0, -1, -1, -1, -1],
            "y_true": [1.0, 2.0, 3.0, 4.0] * 2,
            "y_pred": [1.0, 2.0, 3.0, 5.0, 2.0, 2.0, 3.0, 3.0],
        }
    )
    scores = fold_scores(predictions)
    table = per_fold(scores)
    assert table.loc["mlp", 2022] == 0.0 and table.loc["linear", 2023] == pytest.approx(
        np.sqrt(0.5)
    )
    summary = summary_table(scores)
    assert list(summary.index) == ["mlp", "linear"]
    low, high = residual_quantiles(predictions, "linear", (0.0, 1.0))
    assert (low, high) == (0.5, pytest.approx(4 / 3))  # truth / prediction
