"""Where the MLP trains: in this process for ad-hoc runs, on the training deployment (the
GPU work pool) when the seasonal run itself comes from a deployment."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.deployments import run_deployment
from prefect.runtime import deployment

from yieldflow.config import PipelineConfig
from yieldflow.flows.train_model import SplitSeasons, TrackingTarget, train_model
from yieldflow.io.source import join_uri
from yieldflow.io.storage import write_uri
from yieldflow.io.workspace import RunWorkspace

FEATURES_FILE = "features.parquet"


class TrainingDeploymentError(RuntimeError):
    """The training deployment's run did not complete (one line for the user)."""


def share_features(
    table: pd.DataFrame, config: PipelineConfig, run_id: str, workspace: RunWorkspace
) -> str:
    """Write the feature table where the training flow can read it; returns its URI.

    The local run folder by default; a run-scoped key under orchestration.shared_storage
    (e.g. s3://bucket/runs) when training runs on another machine.
    """
    base = config.orchestration.shared_storage
    uri = join_uri(base, run_id, FEATURES_FILE) if base else str(workspace.path(FEATURES_FILE))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    write_uri(uri, buffer.getvalue())
    return uri


def trains_on_deployment(config: PipelineConfig) -> bool:
    mode = config.orchestration.train_on
    if mode == "auto":
        return deployment.id is not None
    return mode == "deployment"


def train_mlp_flow(
    features_uri: str,
    split: SplitSeasons,
    config: PipelineConfig,
    tracking: TrackingTarget | None,
    pipeline_run_id: str,
) -> dict[str, Any]:
    """Run the train-model flow here or on its deployment; returns its JSON result.

    tracking is None when MLflow was unreachable at the start: train anyway, log nothing.
    """
    if not trains_on_deployment(config):
        return train_model(features_uri, split, config, tracking, pipeline_run_id)
    name = config.orchestration.training_deployment
    get_run_logger().info("Training on deployment %s", name)
    child = run_deployment(
        name=name,
        parameters={
            "features_path": features_uri,
            "split": split.model_dump(),
            "config": config.model_dump(mode="json"),
            "tracking": tracking.model_dump() if tracking else None,
            "pipeline_run_id": pipeline_run_id,
        },
        timeout=config.orchestration.training_timeout_s,
        as_subflow=True,
    )
    state = child.state
    if state is None or not state.is_completed():
        status = state.type.value if state else "unknown"
        message = (state.message or "").strip() if state else ""
        raise TrainingDeploymentError(
            f"training deployment {name} run {child.name} ended {status}"
            + (f": {message}" if message else "")
        )
    return state.result()
