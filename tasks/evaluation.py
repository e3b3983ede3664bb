"""Prefect tasks: season-wise cross-validation and its MLflow runs."""

from __future__ import annotations

import pandas as pd
from mlflow.entities import Metric
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.training import (
    TRAINING_RETRIES,
    TRAINING_RETRY_DELAYS_S,
    retry_on_transient_device_error,
)
from yieldflow.config import PipelineConfig
from yieldflow.evaluation import MLP, CrossValidation, Fold, cross_validate
from yieldflow.tracking import TAG_MODEL, TrackingContext, log_bytes


@task(
    name="cross-validate-by-season",
    cache_policy=NO_CACHE,
    retries=TRAINING_RETRIES,
    retry_delay_seconds=TRAINING_RETRY_DELAYS_S,
    retry_condition_fn=retry_on_transient_device_error,
)
def cross_validate_task(table: pd.DataFrame, config: PipelineConfig) -> CrossValidation | None:
    logger = get_run_logger()

    def report_fold(number: int, total: int, fold: Fold) -> None:
        logger.info("Fold %d/%d: trained on %s, scored on %d", number, total, fold.train, fold.val)

    cv = cross_validate(table, config, report_fold)
    if cv is None:
        logger.warning("Too few seasons for season-wise cross-validation; single split only")
    else:
        logger.info(cv.verdict.sentence())
    return cv


@task(
    name="log-cross-validation-to-mlflow",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
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
    client.log_batch(eval_id, metrics=summary_metrics)
    log_bytes(client, eval_id, "seed_spread.png", figure_png)
    client.log_table(eval_id, cv.scores, "fold_scores.json")
    means = cv.scores.groupby(["model", "season"])[["rmse", "mae", "r2"]].mean()
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
