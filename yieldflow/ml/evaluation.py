"""Rolling-origin evaluation over seasons: an answer that survives a dozen harvests a season.

For every season S with at least two seasons before it, each model learns from the seasons
before S and is scored on S. Every model learns from the same seasons: the MLP picks its
epoch count by early-stopping on the last of them, then is refitted on all of them
(yieldflow.ml.recipes). Encoders and scalers are fitted inside the fold. The MLP is
trained with several seeds, so its seed spread is measured rather than assumed away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from yieldflow.config import BaselineConfig, PipelineConfig, TrainingConfig
from yieldflow.features.seasons import TARGET
from yieldflow.ml.metrics import all_metrics, crop_scaled_errors, per_crop_metrics
from yieldflow.ml.recipes import ALL_MODELS, MLP, REFERENCE, SIMPLE_MODELS, fit_model
from yieldflow.ml.verdict import SEASONS_BEFORE_FIRST_FOLD, Verdict, judge

MIN_FOLD_TRAIN_SEASONS = SEASONS_BEFORE_FIRST_FOLD
METRICS = ("rmse", "mae", "r2", "nrmse", "mape")


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


def evaluate_fold(
    table: pd.DataFrame,
    fold: Fold,
    training: TrainingConfig,
    baselines: BaselineConfig,
    seeds: list[int],
    on_trained: Callable[[int], None] | None = None,
    models: Sequence[str] = ALL_MODELS,
) -> pd.DataFrame:
    """Predictions of every model (and every MLP seed) for the fold's validation season.

    Returns one row per validation harvest and model/seed: farm_id, season, crop, model,
    seed (-1 for seedless models), epochs (the MLP's), y_true, y_pred. ``on_trained(n)``
    is told how many of the fold's len(seeds) + 1 steps (each MLP seed, then the simple
    models) are done: a progress count that a retry restarts.
    """
    done = on_trained or (lambda _n: None)
    train = table[table["season"].isin(fold.train)]
    val = table[table["season"] == fold.val]
    rows = []
    if MLP in models:
        for number, seed in enumerate(seeds, start=1):
            fitted = fit_model(MLP, train, training, baselines, seed)
            rows.append(_predictions(val, MLP, seed, fitted.predict(val), fitted.epochs))
            done(number)
    for model in (m for m in models if m != MLP):
        fitted = fit_model(model, train, training, baselines, seeds[0])
        rows.append(_predictions(val, model, None, fitted.predict(val)))
    done(len(seeds) + 1)
    return pd.concat(rows, ignore_index=True)


def _predictions(
    frame: pd.DataFrame,
    model: str,
    seed: int | None,
    y_pred: np.ndarray,
    epochs: int | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "farm_id": frame["farm_id"].to_numpy(),
            "season": frame["season"].to_numpy(),
            "crop": frame["crop"].astype(str).to_numpy(),
            "model": model,
            "seed": seed if seed is not None else -1,
            "epochs": epochs if epochs is not None else -1,
            "y_true": frame[TARGET].to_numpy(dtype=float),
            "y_pred": y_pred,
        }
    )


def fold_scores(predictions: pd.DataFrame) -> pd.DataFrame:
    """Every metric per model, fold (validation season) and seed (-1 for seedless models)."""
    records = []
    for (model, season, seed), group in predictions.groupby(["model", "season", "seed"]):
        metrics = all_metrics(
            group["crop"].to_numpy(), group["y_true"].to_numpy(), group["y_pred"].to_numpy()
        )
        records.append({"model": model, "season": season, "seed": seed, **metrics})
    return pd.DataFrame(records)


def per_fold(scores: pd.DataFrame, metric: str = "nrmse") -> pd.DataFrame:
    """model × season table of one metric (the MLP averaged over its seeds)."""
    return scores.groupby(["model", "season"])[metric].mean().unstack("season")


def scaled_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model and harvest, the error over its crop's mean yield in that fold; for the
    MLP the root of its seeds' mean squared scaled error (what its fold NRMSE averages)."""
    frame = predictions.copy()
    frame["scaled_error"] = np.nan
    for _, rows in frame.groupby(["model", "season", "seed"]).groups.items():
        part = frame.loc[rows]
        frame.loc[rows, "scaled_error"] = crop_scaled_errors(
            part["crop"].to_numpy(), part["y_true"].to_numpy(), part["y_pred"].to_numpy()
        )
    squared = frame.assign(sq=frame["scaled_error"] ** 2)
    keyed = squared.groupby(["model", "season", "farm_id"], sort=False)["sq"].mean()
    return np.sqrt(keyed).rename("scaled_error").reset_index()


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread across folds per model; the MLP's spread across seeds; and each
    model's skill against the per-crop mean: 1 − NRMSE(model) / NRMSE(crop mean)."""
    by_fold = scores.groupby(["model", "season"])[list(METRICS)].mean()
    table = by_fold.groupby("model").agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    table["seed_rmse_std"] = np.nan
    if MLP in table.index:
        seed_spread = scores[scores["model"] == MLP].groupby("season")["rmse"].std().mean()
        table.loc[MLP, "seed_rmse_std"] = seed_spread
    table["skill_vs_crop_mean"] = np.nan
    if REFERENCE in table.index:
        table["skill_vs_crop_mean"] = 1 - table["nrmse_mean"] / table.loc[REFERENCE, "nrmse_mean"]
    return table.sort_values("nrmse_mean")


def crop_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """model × crop: harvests, mean yield, RMSE (t/ha), NRMSE and MAPE over every fold
    (the MLP's rows of all seeds pooled)."""
    parts = [
        per_crop_metrics(group).assign(model=model).reset_index()
        for model, group in predictions.groupby("model")
    ]
    return pd.concat(parts, ignore_index=True).set_index(["model", "crop"])


def _finite(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


@dataclass
class CrossValidation:
    folds: list[Fold]
    predictions: pd.DataFrame  # one row per validation harvest, model and seed
    scores: pd.DataFrame  # model, season, seed and every metric
    summary: pd.DataFrame  # per model: mean and std across folds, seed spread, skill
    crops: pd.DataFrame  # model × crop metrics
    verdict: Verdict
    seeds: list[int]

    def as_dict(self) -> dict[str, Any]:
        """The summary JSON's "evaluation" section."""
        verdict = self.verdict
        return {
            "folds": [f.val for f in self.folds],
            "training_seasons_per_fold": {str(f.val): f.train for f in self.folds},
            "mlp_seeds": self.seeds,
            "metric": "nrmse",
            "verdict": verdict.label,
            "versus": verdict.versus,
            "sentence": verdict.sentence(),
            "evidence_thin": verdict.thin,
            "seasons_to_settle": verdict.seasons_needed,
            "recommended": verdict.recommended,
            "comparisons": {
                name: {
                    "label": c.label,
                    "mean_nrmse_difference": c.mean,
                    "interval_90": [_finite(c.low), _finite(c.high)],
                    "method": c.method,
                    "fold_nrmse_differences": {str(k): v for k, v in c.fold_nrmse.items()},
                    "fold_rmse_differences": {str(k): v for k, v in c.fold_rmse.items()},
                }
                for name, c in verdict.comparisons.items()
            },
            "models": {
                str(model): {k: _finite(v) for k, v in row.items()}
                for model, row in self.summary.iterrows()
            },
            "per_crop": {
                str(model): {
                    str(crop): {k: _finite(v) for k, v in row.items()}
                    for (_, crop), row in self.crops.loc[[model]].iterrows()
                }
                for model in self.crops.index.get_level_values("model").unique()
            },
        }


def mlp_seeds(config: PipelineConfig) -> list[int]:
    """The seeds every fold trains the MLP with."""
    return [config.seed + k for k in range(config.evaluation.mlp_seeds)]


def cross_validate(table: pd.DataFrame, config: PipelineConfig) -> CrossValidation | None:
    """Every model on every rolling-origin fold, one cell after another (the flow runs the
    same cells as task runs); None when no fold has enough history."""
    folds = rolling_origin_folds(table["season"], config.split.min_train_seasons)
    if not folds:
        return None
    predictions = evaluate_points({1.0: table}, config)[1.0]
    return summarise(folds, predictions, mlp_seeds(config))


def summarise(folds: list[Fold], predictions: pd.DataFrame, seeds: list[int]) -> CrossValidation:
    scores = fold_scores(predictions)
    return CrossValidation(
        folds=folds,
        predictions=predictions,
        scores=scores,
        summary=summary_table(scores),
        crops=crop_table(predictions),
        verdict=judge(
            per_fold(scores, "nrmse"), per_fold(scores, "rmse"), scaled_errors(predictions)
        ),
        seeds=seeds,
    )


def evaluation_cells(
    tables: dict[float, pd.DataFrame],
    config: PipelineConfig,
    harvest_models: Sequence[str] = ALL_MODELS,
) -> list[tuple[float, Fold, str, int]]:
    """The season-wise grid as (point, fold, model, seed) cells: ``harvest_models`` at
    harvest (the MLP once per seed), the simple models at the earlier forecast points
    (the MLP, the slowest to train, is judged at harvest)."""
    seeds = mlp_seeds(config)
    cells = []
    for point, table in sorted(tables.items(), reverse=True):
        models = harvest_models if point >= 1.0 else SIMPLE_MODELS
        for fold in rolling_origin_folds(table["season"], config.split.min_train_seasons):
            for model in models:
                for seed in seeds if model == MLP else seeds[:1]:
                    cells.append((point, fold, model, seed))
    return cells


def evaluate_points(
    tables: dict[float, pd.DataFrame],
    config: PipelineConfig,
    harvest_models: Sequence[str] = ALL_MODELS,
) -> dict[float, pd.DataFrame]:
    """Every cell of the grid, one after another: out-of-fold predictions per point."""
    found: dict[float, list[pd.DataFrame]] = {}
    for point, fold, model, seed in evaluation_cells(tables, config, harvest_models):
        found.setdefault(point, []).append(
            evaluate_fold(
                tables[point], fold, config.training, config.baselines, [seed], models=(model,)
            )
        )
    return {point: pd.concat(parts, ignore_index=True) for point, parts in found.items()}
