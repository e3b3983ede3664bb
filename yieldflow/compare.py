"""Score every model the same way and say plainly whether the network earns its keep."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yieldflow.evaluation import CvVerdict
from yieldflow.ml.metrics import regression_metrics

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
    predictions: dict[str, dict[str, np.ndarray]], truth: dict[str, np.ndarray]
) -> dict[str, ModelScores]:
    """predictions[model][part] for part in val/test, scored against truth[part]."""
    return {
        name: ModelScores(
            name=name,
            val=regression_metrics(truth["val"], preds["val"]),
            test=regression_metrics(truth["test"], preds["test"]),
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


def recommend(
    scores: dict[str, ModelScores], cv_verdict: CvVerdict | None, cv_rmse: dict[str, float]
) -> tuple[str, str]:
    """The verdict sentence and the model to register.

    The season-wise cross-validation decides when it exists; the single split only when
    there were too few seasons for a fold. A recommended model without a logged artifact
    (the farm-history mean) hands over to the best logged model by cross-validated RMSE.
    """
    if cv_verdict is None:
        simple = best_simple_model(scores)
        mlp_wins = scores[MLP].test["rmse"] < simple.test["rmse"] * (1 - MATCH_TOLERANCE)
        return verdict(scores), MLP if mlp_wins else simple.name
    recommended = cv_verdict.recommended
    sentence = cv_verdict.sentence()
    if recommended not in scores:
        fallback = min((m for m in scores if m in cv_rmse), key=cv_rmse.__getitem__)
        sentence += f" ({recommended} is a lookup, not a model; {fallback} is registered)"
        recommended = fallback
    return sentence, recommended
