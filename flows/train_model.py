"""The training flow: the MLP alone, so production can run it on a GPU work pool.

It reads the run-scoped feature table the seasonal flow wrote, rebuilds the same split
and encoding, trains, studies patience, logs the MLflow run, and returns plain JSON (so
its persisted result can be read by a parent flow on another machine).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Annotated, Any

import pandas as pd
from prefect import flow
from pydantic import BaseModel, Field

from yieldflow.config import PipelineConfig
from yieldflow.features.split import SeasonSplit, prepare_model_data
from yieldflow.io.storage import read_uri
from yieldflow.io.workspace import RunWorkspace
from yieldflow.ml.compare import score_models
from yieldflow.ml.mlp import predict
from yieldflow.ml.persistence import save_mlp
from yieldflow.reporting.figures import loss_curve_png
from yieldflow.tasks.training import patience_study, train
from yieldflow.tracking.runs import (
    TAG_PIPELINE_RUN,
    TrackingContext,
    describe_failure,
    flow_source,
    is_tracking_failure,
)


class SplitSeasons(BaseModel):
    train: list[int] = Field(description="Training seasons.")
    val: list[int] = Field(description="Validation seasons (early stopping).")
    test: list[int] = Field(description="Held-out test seasons.")


class TrackingTarget(BaseModel):
    """Where the MLP's MLflow run goes: the parent pipeline run's experiment."""

    tracking_uri: str
    experiment: str
    experiment_id: str
    parent_run_id: str
    shared_tags: dict[str, str] = Field(default_factory=dict)


# persist_result: a parent on another machine reads this flow's return value from the
# result storage (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, e.g. an S3 bucket, in production).
@flow(
    name="train-model",
    flow_run_name="train-mlp-seed-{config.seed}",
    log_prints=True,
    persist_result=True,
)
def train_model(
    features_path: Annotated[str, Field(description="Feature table URI (local or s3://).")],
    split: SplitSeasons,
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 (pydantic default = UI form default)
    tracking: TrackingTarget | None = None,
    pipeline_run_id: Annotated[
        str | None, Field(description="The seasonal run whose folder keeps the model.")
    ] = None,
) -> dict[str, Any]:
    """Train the MLP on a saved feature table; returns metrics, curves and its MLflow run id."""
    from yieldflow.tasks.tracking import (
        log_mlp_run,  # imports mlflow.pytorch after Prefect's logging
    )

    table = pd.read_parquet(io.BytesIO(read_uri(features_path)))
    data = prepare_model_data(table, SeasonSplit(**split.model_dump()))
    result = train(data, config.training, config.seed)
    study = patience_study(data, config.training, config.seed)
    predictions = {part: predict(result.model, data.x[part]) for part in ("val", "test")}
    scores = score_models({"mlp": predictions}, data.y, data.crops)["mlp"]
    curve = loss_curve_png(
        result.train_loss, result.val_loss, result.best_epoch, result.stopped_epoch
    )
    # A local copy first: if MLflow is down from here on, the trained model is not lost.
    run_key = (
        pipeline_run_id
        or (tracking.shared_tags.get(TAG_PIPELINE_RUN) if tracking else None)
        or "ad-hoc"
    )
    model_dir = RunWorkspace.create(config.tracking.output_dir, run_key).path("model")
    save_mlp(result.model, model_dir, data.feature_names, config.training.hidden_units)
    (model_dir / "encoder.json").write_text(data.encoder.to_json())
    run_id, tracking_error = None, None
    if tracking is not None:
        context = TrackingContext(**tracking.model_dump())
        context = dataclasses.replace(
            context, shared_tags={**context.shared_tags, **flow_source(__file__)}
        )
        try:
            run_id = log_mlp_run(context, result, scores, data, config, curve, features_path)
        except Exception as error:  # retries spent: report it, keep the trained result
            if not is_tracking_failure(error):
                raise
            tracking_error = describe_failure(error)
    return {
        "mlflow_run_id": run_id,
        "val": scores.val,
        "test": scores.test,
        "best_epoch": result.best_epoch,
        "stopped_epoch": result.stopped_epoch,
        "stop_reason": result.stop_reason,
        "patience": config.training.patience,
        "target": config.training.target,
        "device": result.device,
        "seconds": result.seconds,
        "train_loss": result.train_loss,
        "val_loss": result.val_loss,
        "patience_study": dataclasses.asdict(study),
        "local_model_dir": str(model_dir),
        "tracking_error": tracking_error,
    }
