import numpy as np
import pytest

from yieldflow.ml.compare import ModelScores, score_models, verdict
from yieldflow.ml.metrics import regression_metrics


def test_metrics_on_a_known_case():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["r2"] == pytest.approx(0.0)


def scores(mlp_test: float, rf_test: float, rf_val: float = 1.0, lin_val: float = 2.0):
    def s(name, val, test):
        return ModelScores(
            name, {"rmse": val, "mae": 0, "r2": 0}, {"rmse": test, "mae": 0, "r2": 0}
        )

    return {
        "mlp": s("mlp", 1.0, mlp_test),
        "random_forest": s("random_forest", rf_val, rf_test),
        "linear": s("linear", lin_val, 0.5),  # best on test, but not chosen: picked on val
    }


def test_verdict_says_plainly_when_a_simple_model_matches():
    text = verdict(scores(mlp_test=1.02, rf_test=1.0))
    assert "no better than the simpler random_forest" in text and "prefer random_forest" in text


def test_verdict_when_the_mlp_wins_or_loses():
    assert verdict(scores(mlp_test=0.8, rf_test=1.0)).startswith("The MLP beats")
    assert "worse than the simpler random_forest" in verdict(scores(mlp_test=1.3, rf_test=1.0))


def test_simple_model_is_chosen_on_validation_not_test():
    assert "linear" in verdict(scores(mlp_test=1.0, rf_test=1.0, rf_val=3.0, lin_val=2.0))


def test_score_models_uses_the_same_metrics_for_every_model():
    truth = {"val": np.array([1.0, 2.0]), "test": np.array([3.0, 4.0])}
    preds = {"a": {"val": np.array([1.0, 2.0]), "test": np.array([3.0, 5.0])}}
    result = score_models(preds, truth)["a"]
    assert result.val["rmse"] == 0 and result.test["mae"] == pytest.approx(0.5)
    assert set(result.flat()) == {
        "val_rmse",
        "val_mae",
        "val_r2",
        "test_rmse",
        "test_mae",
        "test_r2",
    }
