"""Prefect tasks: cells of the season-wise evaluation grid, its summary, its MLflow runs."""

from __future__ import annotations

import time

import pandas as pd
from mlflow.entities import Metric
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import BaselineConfig, TrainingConfig
from yieldflow.ml.evaluation import (
    METRICS,
    MLP,
    CrossValidation,
    Fold,
    evaluate_fold,
    summarise,
)
from yieldflow.tasks.training import (
    ON_DEVICE,
)
from yieldflow.tracking.runs import (
    TAG_MODEL,
    TRACKING_RETRIES,
    TRACKING_RETRY_DELAYS_S,
    TrackingContext,
    log_bytes,
)


def _grid_run_name() -> str:
    from prefect.runtime import task_run

    p = task_run.parameters
    return grid_run_name(p["point"], p["fold"].val, p["cells"])


def grid_run_name(point: float, season: int, cells: list[tuple[str, int]]) -> str:
    """cross-validate-season-2024 for a fold's cells together; with its model (and MLP
    seed) when the task is one cell, as on a cluster."""
    stage = "cross-validate" if point >= 1.0 else f"backtest-{point:.0%}".replace("%", "pct")
    name = f"{stage}-season-{season}"
    if len(cells) != 1:
        return name
    model, seed = cells[0]
    return f"{name}-{model}" + (f"-seed-{seed}" if model == MLP else "")


@task(
    name="evaluate-models-on-fold",
    task_run_name=_grid_run_name,
    **ON_DEVICE,
)
def evaluate_models_on_fold(
    table: pd.DataFrame,
    fold: Fold,
    cells: list[tuple[str, int]],
    training: TrainingConfig,
    baselines: BaselineConfig,
    point: float = 1.0,
) -> pd.DataFrame:
    """Some cells of the grid on one fold at one forecast point: (model, MLP seed) pairs,
    each fitted exactly as it would be alone, so the grouping changes only how many task
    runs there are, never a prediction. A retry redoes this task's cells."""
    started = time.perf_counter()
    predictions = pd.concat(
        [
            evaluate_fold(table, fold, training, baselines, [seed], models=(model,))
            for model, seed in cells
        ],
        ignore_index=True,
    )
    models = sorted({model for model, _ in cells})
    get_run_logger().info(
        "Season %d scored by %s trained on %s in %.1f s",
        fold.val,
        ", ".join(models) + (f" ({len(cells)} fits)" if len(cells) != len(models) else ""),
        ", ".join(map(str, fold.train)),
        time.perf_counter() - started,
    )
    return predictions.assign(point=point)


@task(
    name="summarise-cross-validation",
    task_run_name="cross-validate-by-season",
    cache_policy=NO_CACHE,
)
def summarise_cross_validation(
    folds: list[Fold], predictions: pd.DataFrame, seeds: list[int], seconds: float
) -> CrossValidation:
    cv = summarise(folds, predictions, seeds)
    verdict = cv.verdict
    get_run_logger().info(
        "Cross-validated on seasons %s in %.1f s: MLP vs %s: %s, %s",
        ", ".join(str(f.val) for f in cv.folds),
        seconds,
        verdict.versus,
        verdict.label,
        verdict.comparisons[verdict.versus].interval_text(),
    )
    return cv


@task(
    name="log-cross-validation-to-mlflow",
    task_run_name="log-cross-validation-to-mlflow",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def log_cross_validation(context: TrackingContext, cv: CrossValidation, figure_png: bytes) -> str:
    """An evaluation run under the pipeline run, with a nested run per model and fold.

    Every nested run has the same metric names (cv_rmse, cv_mae, cv_r2), so the MLflow
    compare view charts models and folds side by side; MLP runs also carry one
    cv_rmse_seed point per seed (step = seed).
    """
    client = context.client()
    evaluation = client.create_run(
        context.experiment_id,
        run_name="cross-validation",
        tags={
            **context.shared_tags,
            "mlflow.parentRunId": context.parent_run_id,
            TAG_MODEL: "evaluation",
        },
    )
    eval_id = evaluation.info.run_id
    client.log_param(eval_id, "folds", ",".join(str(f.val) for f in cv.folds))
    client.log_param(eval_id, "mlp_seeds", ",".join(map(str, cv.seeds)))
    summary_metrics = [
        Metric(f"{model}_cv_{column}", float(value), 0, 0)
        for model, row in cv.summary.iterrows()
        for column, value in row.items()
        if pd.notna(value)
    ]
    crop_metrics = [
        Metric(f"{model}_cv_{metric}_{crop}", float(row[metric]), 0, 0)
        for (model, crop), row in cv.crops.iterrows()
        for metric in ("rmse", "nrmse", "mape")
    ]
    for start in range(0, len(summary_metrics + crop_metrics), 1000):
        client.log_batch(eval_id, metrics=(summary_metrics + crop_metrics)[start : start + 1000])
    verdict = cv.verdict
    client.set_tag(eval_id, "yieldflow.ml.verdict", verdict.sentence()[:5000])
    log_bytes(client, eval_id, "seed_spread.png", figure_png)
    client.log_table(eval_id, cv.scores, "fold_scores.json")
    means = cv.scores.groupby(["model", "season"])[list(METRICS)].mean()
    for (model, season), row in means.iterrows():
        run = client.create_run(
            context.experiment_id,
            run_name=f"{model}-fold-{season}",
            tags={
                **context.shared_tags,
                "mlflow.parentRunId": eval_id,
                TAG_MODEL: model,
                "yieldflow.fold": str(season),
            },
        )
        metrics = [Metric(f"cv_{k}", float(v), 0, 0) for k, v in row.items() if pd.notna(v)]
        if model == MLP:
            seeds = cv.scores[(cv.scores["model"] == MLP) & (cv.scores["season"] == season)]
            metrics += [
                Metric("cv_rmse_seed", float(r.rmse), 0, int(r.seed)) for r in seeds.itertuples()
            ]
        client.log_batch(run.info.run_id, metrics=metrics)
        client.set_terminated(run.info.run_id)
    client.set_terminated(eval_id)
    return eval_id
