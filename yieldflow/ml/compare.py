"""Score every model the same way and say plainly whether the network earns its keep."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yieldflow.ml.metrics import regression_metrics, scale_free_metrics
from yieldflow.ml.verdict import Verdict

MLP = "mlp"
# Within this relative RMSE margin two models are "as good as" each other: with a dozen
# validation rows a smaller difference is noise, not a finding.
MATCH_TOLERANCE = 0.05


@dataclass(frozen=True)
class ModelScores:
    name: str
    val: dict[str, float]
    test: dict[str, float]

    def flat(self) -> dict[str, float]:
        """Metric names shared by every model, so MLflow compares them side by side."""
        return {
            **{f"val_{k}": v for k, v in self.val.items()},
            **{f"test_{k}": v for k, v in self.test.items()},
        }


def score_models(
    predictions: dict[str, dict[str, np.ndarray]],
    truth: dict[str, np.ndarray],
    crops: dict[str, np.ndarray] | None = None,
) -> dict[str, ModelScores]:
    """predictions[model][part] for part in val/test, scored against truth[part]; with
    ``crops`` (per part) also the scale-free NRMSE and MAPE."""

    def metrics(part: str, predicted: np.ndarray) -> dict[str, float]:
        scored = regression_metrics(truth[part], predicted)
        if crops is not None:
            scored |= scale_free_metrics(crops[part], truth[part], predicted)
        return scored

    return {
        name: ModelScores(
            name=name, val=metrics("val", preds["val"]), test=metrics("test", preds["test"])
        )
        for name, preds in predictions.items()
    }


def best_simple_model(scores: dict[str, ModelScores]) -> ModelScores:
    """The simple model chosen on validation RMSE (the test set is not used to pick)."""
    simple = [s for name, s in scores.items() if name != MLP]
    return min(simple, key=lambda s: s.val["rmse"])


def verdict(scores: dict[str, ModelScores], tolerance: float = MATCH_TOLERANCE) -> str:
    """One sentence comparing the MLP with the best simple model on the test seasons."""
    mlp = scores[MLP]
    simple = best_simple_model(scores)
    mlp_rmse, simple_rmse = mlp.test["rmse"], simple.test["rmse"]
    relative = (mlp_rmse - simple_rmse) / simple_rmse if simple_rmse > 0 else 0.0
    numbers = (
        f"test RMSE {mlp_rmse:.3f} t/ha for the MLP vs {simple_rmse:.3f} t/ha for "
        f"{simple.name} ({relative:+.1%})"
    )
    if relative < -tolerance:
        return f"The MLP beats the best simple model, {simple.name}: {numbers}."
    if relative <= tolerance:
        return (
            f"The MLP is no better than the simpler {simple.name} ({numbers}, within "
            f"{tolerance:.0%}): prefer {simple.name}."
        )
    return f"The MLP is worse than the simpler {simple.name} ({numbers}): use {simple.name}."


def verdict_sentence(scores: dict[str, ModelScores], cv_verdict: Verdict | None) -> str:
    """The season-wise cross-validation's verdict when it exists; the single split's only
    when there were too few seasons for a fold."""
    return cv_verdict.sentence() if cv_verdict is not None else verdict(scores)
