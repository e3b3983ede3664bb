"""Prefect tasks around MLflow: the parent run, one nested run per model, the report."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import mlflow.data
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import PipelineConfig
from yieldflow.features.split import ModelData
from yieldflow.ml.baselines import FittedBaseline
from yieldflow.ml.compare import ModelScores
from yieldflow.ml.mlp import TrainingResult
from yieldflow.tasks.champion import ENCODER_FILE
from yieldflow.tracking.model_logging import log_mlp_model, log_sklearn_model
from yieldflow.tracking.runs import (
    TAG_FINGERPRINT,
    TAG_PIPELINE_RUN,
    TAG_SPLIT,
    TRACKING_RETRIES,
    TRACKING_RETRY_DELAYS_S,
    TrackingContext,
    end_pipeline_run,
    log_bytes,
    log_model_run,
    redact_uri,
    start_pipeline_run,
)


@task(
    name="start-mlflow-run",
    task_run_name="start-mlflow-run",
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def start_tracking(
    tracking_uri: str,
    experiment: str,
    pipeline_run_id: str,
    fingerprint: str,
    split: Mapping[str, list[int]],
    data_uri: str,
    source: Mapping[str, str] | None = None,
) -> TrackingContext:
    """The pipeline's parent run; ``source`` (yieldflow.tracking.runs.flow_source) names the flow
    file in MLflow's source tags, for the parent and every nested run."""
    tags = {
        **(source or {}),
        TAG_PIPELINE_RUN: pipeline_run_id,
        TAG_FINGERPRINT: fingerprint,
        TAG_SPLIT: _split_tag(split),
        "yieldflow.data_uri": redact_uri(data_uri),
    }
    context = start_pipeline_run(tracking_uri, experiment, f"pipeline-{pipeline_run_id[:8]}", tags)
    get_run_logger().info(
        "MLflow: experiment %r at %s, parent run %s",
        experiment,
        redact_uri(tracking_uri),
        context.parent_run_id,
    )
    return context


def _split_tag(split: Mapping[str, list[int]]) -> str:
    return " | ".join(f"{part}: {','.join(map(str, seasons))}" for part, seasons in split.items())


def features_dataset(data: ModelData, source: str) -> mlflow.data.Dataset:
    """The training feature table as an MLflow dataset input (source: its parquet file)."""
    frame = pd.concat([data.frames[p].assign(split=p) for p in ("train", "val", "test")])
    frame = frame.astype({c: float for c in frame.select_dtypes("integer").columns})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "source can be interpreted in multiple ways"
        return mlflow.data.from_pandas(
            frame, source=source, targets="yield_t_ha", name="season-features"
        )


@task(
    name="log-mlp-to-mlflow",
    task_run_name="log-mlp-to-mlflow",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def log_mlp_run(
    context: TrackingContext,
    result: TrainingResult,
    scores: ModelScores,
    data: ModelData,
    config: PipelineConfig,
    curve_png: bytes,
    features_source: str,
) -> str:
    training = config.training
    params: dict[str, Any] = {
        "learning_rate": training.learning_rate,
        "weight_decay": training.weight_decay,
        "max_epochs": training.max_epochs,
        "hidden_units": ",".join(map(str, training.hidden_units)),
        "architecture": f"{len(data.feature_names)}-"
        + "-".join(map(str, training.hidden_units))
        + "-1",
        "patience": training.patience,
        "min_delta": training.min_delta,
        "batch_size": training.batch_size,
        "seed": config.seed,
        "device": result.device,
        "torch_threads": result.threads,
        "cuda_graphs": result.cuda_graphs,
        "optimizer": "Adam",
        "loss": "MSELoss",
        "target": training.target,
        "n_features": len(data.feature_names),
        "n_train_rows": len(data.y["train"]),
    }
    metrics = {
        **scores.flat(),
        "best_epoch": result.best_epoch,
        "stopped_epoch": result.stopped_epoch,
        "best_val_loss": result.best_val_loss,
        "training_seconds": result.seconds,
    }
    example = data.encoder.frame(data.frames["train"]).head(5)
    return log_model_run(
        context,
        "mlp",
        params,
        metrics,
        log_model=lambda: log_mlp_model(result.model, example),
        curves={"train_loss": result.train_loss, "val_loss": result.val_loss},
        files={"loss_curve.png": curve_png, ENCODER_FILE: data.encoder.to_json()},
        dataset=features_dataset(data, features_source),
    )


@task(
    name="log-baseline-to-mlflow",
    task_run_name="log-{baseline.name}-to-mlflow",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def log_baseline_run(
    context: TrackingContext,
    baseline: FittedBaseline,
    scores: ModelScores,
    data: ModelData,
    seed: int,
    features_source: str,
) -> str:
    example = data.encoder.frame(data.frames["train"]).head(5)
    return log_model_run(
        context,
        baseline.name,
        {**baseline.params, "seed": seed},
        scores.flat(),
        log_model=lambda: log_sklearn_model(baseline.estimator, example),
        files={ENCODER_FILE: data.encoder.to_json()},
        dataset=features_dataset(data, features_source),
    )


@task(
    name="finish-mlflow-run",
    task_run_name="finish-mlflow-run",
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def finish_tracking(
    context: TrackingContext, report_markdown: str, curve_png: bytes, summary: Mapping[str, Any]
) -> None:
    client = context.client()
    log_bytes(client, context.parent_run_id, "report.md", report_markdown)
    log_bytes(client, context.parent_run_id, "loss_curve.png", curve_png)
    client.log_dict(context.parent_run_id, dict(summary), "summary.json")
    end_pipeline_run(context)
