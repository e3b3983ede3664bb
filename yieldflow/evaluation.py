"""Rolling-origin evaluation over seasons: an answer that survives a dozen validation rows.

For every season S with at least two seasons before it, each model is trained on the
seasons before S and scored on S. The MLP early-stops on the last of its training seasons
(never on S), and every encoder and scaler is fitted inside the fold. The MLP is trained
with several seeds, so its seed spread is measured rather than assumed away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from yieldflow.config import BaselineConfig, PipelineConfig, TrainingConfig
from yieldflow.features import TARGET
from yieldflow.ml.baselines import fit_baselines
from yieldflow.ml.metrics import regression_metrics
from yieldflow.ml.mlp import predict, train_mlp
from yieldflow.split import FeatureEncoder

MLP = "mlp"
FARM_MEAN = "farm_mean"
# Inside a fold the MLP needs one training season to early-stop on, and one to fit.
MIN_FOLD_TRAIN_SEASONS = 2
# A model counts as better or worse only beyond this mean relative RMSE difference, and
# only if the sign agrees in every fold.
TOLERANCE = 0.05


@dataclass(frozen=True)
class Fold:
    train: list[int]
    val: int

    @property
    def name(self) -> str:
        return f"season-{self.val}"


def rolling_origin_folds(
    seasons: list[int] | pd.Series, min_train_seasons: int = MIN_FOLD_TRAIN_SEASONS
) -> list[Fold]:
    """Train on every season before S, validate on S, for each S with enough history."""
    ordered = sorted({int(s) for s in seasons})
    return [
        Fold(train=ordered[:i], val=season)
        for i, season in enumerate(ordered)
        if i >= max(min_train_seasons, MIN_FOLD_TRAIN_SEASONS)
    ]


def _matrices(
    encoder: FeatureEncoder, *frames: pd.DataFrame
) -> list[tuple[pd.DataFrame, np.ndarray]]:
    return [(encoder.frame(f), f[TARGET].to_numpy(dtype=float)) for f in frames]


def evaluate_fold(
    table: pd.DataFrame,
    fold: Fold,
    training: TrainingConfig,
    baselines: BaselineConfig,
    seeds: list[int],
    on_trained: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Predictions of every model (and every MLP seed) for the fold's validation season.

    Returns one row per validation harvest and model/seed: farm_id, season, model, seed,
    y_true, y_pred. ``on_trained(n)`` is told how many of the fold's len(seeds) + 1 steps
    (each MLP seed, then the baselines) are done: a progress count that a retry restarts.
    """
    done = on_trained or (lambda _n: None)
    train = table[table["season"].isin(fold.train)]
    val = table[table["season"] == fold.val]
    fit, stop = train[train["season"] < fold.train[-1]], train[train["season"] == fold.train[-1]]
    rows = []

    mlp_encoder = FeatureEncoder.fit(fit)  # the MLP sees neither its stop season nor S
    (x_fit, y_fit), (x_stop, y_stop), (x_val, _) = _matrices(mlp_encoder, fit, stop, val)
    for number, seed in enumerate(seeds, start=1):
        result = train_mlp(x_fit.to_numpy(), y_fit, x_stop.to_numpy(), y_stop, training, seed)
        rows.append(_predictions(val, MLP, seed, predict(result.model, x_val.to_numpy())))
        done(number)

    encoder = FeatureEncoder.fit(train)
    (x_train, y_train), (x_val, _) = _matrices(encoder, train, val)
    for baseline in fit_baselines(x_train, y_train, baselines, seeds[0]):
        rows.append(_predictions(val, baseline.name, None, baseline.estimator.predict(x_val)))
    rows.append(_predictions(val, FARM_MEAN, None, farm_mean_predictions(train, val)))
    done(len(seeds) + 1)
    return pd.concat(rows, ignore_index=True)


def farm_mean_predictions(train: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
    """Each farm's historical mean yield; the overall training mean for a new farm."""
    means = train.groupby("farm_id")[TARGET].mean()
    return target["farm_id"].map(means).fillna(train[TARGET].mean()).to_numpy(dtype=float)


def _predictions(
    frame: pd.DataFrame, model: str, seed: int | None, y_pred: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "farm_id": frame["farm_id"].to_numpy(),
            "season": frame["season"].to_numpy(),
            "model": model,
            "seed": seed if seed is not None else -1,
            "y_true": frame[TARGET].to_numpy(dtype=float),
            "y_pred": y_pred,
        }
    )


def fold_scores(predictions: pd.DataFrame) -> pd.DataFrame:
    """RMSE/MAE/R² per model, fold (validation season) and seed (-1 for seedless models)."""
    records = []
    for (model, season, seed), group in predictions.groupby(["model", "season", "seed"]):
        metrics = regression_metrics(group["y_true"].to_numpy(), group["y_pred"].to_numpy())
        records.append({"model": model, "season": season, "seed": seed, **metrics})
    return pd.DataFrame(records)


def per_fold(scores: pd.DataFrame) -> pd.DataFrame:
    """model × season table of RMSE (the MLP averaged over its seeds)."""
    return scores.groupby(["model", "season"])["rmse"].mean().unstack("season")


@dataclass(frozen=True)
class CvVerdict:
    label: str  # "better", "no better than", "worse than"
    best_simple: str
    mean_difference: float  # mean over folds of (mlp RMSE - best simple RMSE), t/ha
    relative_difference: float  # that, relative to the best simple model's mean RMSE
    fold_differences: dict[int, float]
    recommended: str

    def sentence(self) -> str:
        folds = ", ".join(f"{s}: {d:+.3f}" for s, d in self.fold_differences.items())
        numbers = (
            f"paired RMSE difference MLP − {self.best_simple} {self.mean_difference:+.3f} t/ha "
            f"({self.relative_difference:+.1%}) over {len(self.fold_differences)} "
            f"season-wise folds ({folds})"
        )
        if self.label == "better":
            return f"The MLP is better than the best simple model, {self.best_simple}: {numbers}."
        advice = f"; recommended: {self.recommended}"
        return f"The MLP is {self.label} the simpler {self.best_simple}: {numbers}{advice}."


def paired_verdict(fold_rmse: pd.DataFrame, tolerance: float = TOLERANCE) -> CvVerdict:
    """Compare the MLP with the best simple model on the same folds, fold by fold.

    Better (or worse) needs the same sign in every fold and a mean relative difference
    beyond the tolerance; anything else is "no better than", and the simpler model is
    recommended.
    """
    simple = fold_rmse.drop(index=MLP)
    best_simple = str(simple.mean(axis=1).idxmin())
    differences = fold_rmse.loc[MLP] - fold_rmse.loc[best_simple]
    mean_difference = float(differences.mean())
    relative = mean_difference / float(fold_rmse.loc[best_simple].mean())
    if (differences < 0).all() and relative < -tolerance:
        label, recommended = "better", MLP
    elif (differences > 0).all() and relative > tolerance:
        label, recommended = "worse than", best_simple
    else:
        label, recommended = "no better than", best_simple
    return CvVerdict(
        label=label,
        best_simple=best_simple,
        mean_difference=mean_difference,
        relative_difference=relative,
        fold_differences={int(k): float(v) for k, v in differences.items()},
        recommended=recommended,
    )


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread across folds per model; for the MLP also the spread across seeds."""
    by_fold = scores.groupby(["model", "season"])[["rmse", "mae", "r2"]].mean()
    table = by_fold.groupby("model").agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    seed_spread = scores[scores["model"] == MLP].groupby("season")["rmse"].std().mean()
    table["seed_rmse_std"] = np.nan
    if MLP in table.index:
        table.loc[MLP, "seed_rmse_std"] = seed_spread
    return table.sort_values("rmse_mean")


def residual_quantiles(
    predictions: pd.DataFrame, model: str, levels: tuple[float, float] = (0.1, 0.9)
) -> tuple[float, float]:
    """Quantiles of truth / prediction across folds: a multiplicative forecast interval.

    Ratios, not differences: yields of different crops differ tenfold (potato ~40 t/ha,
    soybean ~3.5), so an error in t/ha from one crop says nothing about another.
    """
    rows = predictions[predictions["model"] == model]
    ratios = rows["y_true"] / rows["y_pred"].clip(lower=1e-6)
    return float(ratios.quantile(levels[0])), float(ratios.quantile(levels[1]))


# z of the 10th/90th percentile of a normal distribution: an 80% interval from an RMSE.
_Z80 = 1.2816


def interval_from_rmse(rmse: float, mean_yield: float) -> tuple[float, float]:
    """An 80% interval (as ratios to the prediction) when there are no folds to take
    quantiles from: ± z·RMSE relative to the mean yield."""
    relative = _Z80 * rmse / mean_yield if mean_yield > 0 else 1.0
    return max(0.0, 1 - relative), 1 + relative


@dataclass
class CrossValidation:
    folds: list[Fold]
    predictions: pd.DataFrame  # one row per validation harvest, model and seed
    scores: pd.DataFrame  # model, season, seed, rmse, mae, r2
    summary: pd.DataFrame  # per model: mean and std across folds, MLP seed spread
    verdict: CvVerdict
    seeds: list[int]

    def as_dict(self) -> dict[str, Any]:
        """The summary JSON's "evaluation" section."""
        verdict = self.verdict
        return {
            "folds": [f.val for f in self.folds],
            "mlp_seeds": self.seeds,
            "verdict": verdict.label,
            "best_simple_model": verdict.best_simple,
            "mean_rmse_difference": verdict.mean_difference,
            "relative_rmse_difference": verdict.relative_difference,
            "fold_rmse_differences": {str(k): v for k, v in verdict.fold_differences.items()},
            "recommended": verdict.recommended,
            "models": {
                str(model): {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                for model, row in self.summary.iterrows()
            },
        }


def cross_validate(
    table: pd.DataFrame,
    config: PipelineConfig,
    on_fold: Callable[[int, int, Fold], None] | None = None,
    evaluate: Callable[..., pd.DataFrame] = evaluate_fold,
) -> CrossValidation | None:
    """Every model on every rolling-origin fold; None when no fold has enough history.

    ``evaluate`` has evaluate_fold's signature (the Prefect task wraps it to give each
    fold its own named task run); ``on_fold`` is told after each fold.
    """
    folds = rolling_origin_folds(table["season"], config.split.min_train_seasons)
    if not folds:
        return None
    seeds = [config.seed + k for k in range(config.evaluation.mlp_seeds)]
    predictions = []
    for number, fold in enumerate(folds, start=1):
        predictions.append(evaluate(table, fold, config.training, config.baselines, seeds))
        if on_fold is not None:
            on_fold(number, len(folds), fold)
    all_predictions = pd.concat(predictions, ignore_index=True)
    scores = fold_scores(all_predictions)
    return CrossValidation(
        folds=folds,
        predictions=all_predictions,
        scores=scores,
        summary=summary_table(scores),
        verdict=paired_verdict(per_fold(scores)),
        seeds=seeds,
    )
