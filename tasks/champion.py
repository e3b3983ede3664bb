"""Prefect task: register the recommended model and move @champion only when it is at
least as good as the current champion on this run's test seasons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import mlflow.artifacts
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.champion import CHAMPION_ALIAS, decide_champion
from yieldflow.forecast import ForecastError
from yieldflow.ml.metrics import regression_metrics
from yieldflow.noise import mlflow_prints_off
from yieldflow.split import FeatureEncoder, ModelData
from yieldflow.tracking import (
    TAG_MODEL_URI,
    TRACKING_RETRIES,
    TRACKING_RETRY_DELAYS_S,
    TrackingContext,
    redact_uri,
)

ENCODER_FILE = "encoder.json"  # written beside every logged model (tasks/tracking.py)

# 80% interval as ratios to the prediction (see yieldflow.evaluation.residual_quantiles)
INTERVAL_TAGS = ("interval_low_ratio", "interval_high_ratio")


@task(
    name="register-champion",
    task_run_name="register-{candidate}-as-{model_name}",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def register_champion(
    context: TrackingContext,
    model_name: str,
    candidate: str,
    candidate_run_id: str,
    candidate_test_rmse: float,
    data: ModelData,
    interval: tuple[float, float],
) -> dict[str, Any]:
    """Register ``candidate``'s logged model as a new version; returns what was done."""
    logger = get_run_logger()
    client = context.client()
    mlflow.set_tracking_uri(context.live_uri())
    champion_rmse = _current_champion_rmse(model_name, data)
    model_uri = client.get_run(candidate_run_id).data.tags[TAG_MODEL_URI]
    with mlflow_prints_off():  # the note logged below says what was registered
        version = mlflow.register_model(
            model_uri,
            model_name,
            tags={
                "yieldflow.model": candidate,
                "yieldflow.pipeline_run_id": context.shared_tags.get(
                    "yieldflow.pipeline_run_id", ""
                ),
                INTERVAL_TAGS[0]: f"{interval[0]:.6g}",
                INTERVAL_TAGS[1]: f"{interval[1]:.6g}",
            },
        )
    decision = decide_champion(candidate, candidate_test_rmse, champion_rmse)
    if decision.move:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version.version)
    note = f"{model_name} version {version.version} ({candidate}) registered; {decision.reason}."
    logger.info(note)
    return {
        "model_name": model_name,
        "version": int(version.version),
        "model": candidate,
        "alias_moved": decision.move,
        "note": note,
    }


def _current_champion_rmse(model_name: str, data: ModelData) -> float | None:
    """The current champion's RMSE on today's test seasons, or None if there is none or it
    takes other features than today's encoding produces."""
    try:
        champion = mlflow.pyfunc.load_model(f"models:/{model_name}@{CHAMPION_ALIAS}")
    except MlflowException:
        return None
    schema = champion.metadata.get_input_schema()
    if schema is None or schema.input_names() != data.feature_names:
        return None
    frame = data.encoder.frame(data.frames["test"])
    if any(t.type.name == "float" for t in schema.inputs):
        frame = frame.astype(np.float32)
    predictions = np.asarray(champion.predict(frame), dtype=float).reshape(-1)
    return regression_metrics(data.y["test"], predictions)["rmse"]


@dataclass
class LoadedChampion:
    version: int
    model: str
    input_columns: list[str]
    encoder: FeatureEncoder
    interval: tuple[float, float]
    predict: Callable[[pd.DataFrame], np.ndarray]


@task(
    name="load-champion",
    task_run_name="load-champion",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def load_champion(tracking_uri: str, model_name: str, alias: str) -> LoadedChampion:
    """The aliased model version through MLflow (no pickle from a data bucket), its saved
    encoder and its residual interval."""
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        raise ForecastError(
            f"no model version {model_name}@{alias} in the MLflow registry at "
            f"{redact_uri(tracking_uri)}: run `yieldflow run` first"
        ) from None
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@{alias}")
    schema = model.metadata.get_input_schema()
    float32 = any(t.type.name == "float" for t in schema.inputs)
    encoder_text = mlflow.artifacts.load_text(f"runs:/{version.run_id}/{ENCODER_FILE}")

    def predict(frame: pd.DataFrame) -> np.ndarray:
        inputs = frame.astype(np.float32) if float32 else frame
        return np.asarray(model.predict(inputs), dtype=float).reshape(-1)

    get_run_logger().info("Loaded %s@%s (version %s)", model_name, alias, version.version)
    return LoadedChampion(
        version=int(version.version),
        model=version.tags.get("yieldflow.model", "unknown"),
        input_columns=schema.input_names(),
        encoder=FeatureEncoder.from_json(encoder_text),
        interval=(float(version.tags[INTERVAL_TAGS[0]]), float(version.tags[INTERVAL_TAGS[1]])),
        predict=predict,
    )
