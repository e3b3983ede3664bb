"""Prefect task: register the recommended model and move @champion only when it is at
least as good as the current champion on this run's test seasons."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.champion import CHAMPION_ALIAS, decide_champion
from yieldflow.ml.metrics import regression_metrics
from yieldflow.split import ModelData
from yieldflow.tracking import TAG_MODEL_URI, TrackingContext

INTERVAL_TAGS = ("interval_low_t_ha", "interval_high_t_ha")


@task(name="register-champion", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
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
    mlflow.set_tracking_uri(context.tracking_uri)
    champion_rmse = _current_champion_rmse(model_name, data)
    model_uri = client.get_run(candidate_run_id).data.tags[TAG_MODEL_URI]
    version = mlflow.register_model(
        model_uri,
        model_name,
        tags={
            "yieldflow.model": candidate,
            "yieldflow.pipeline_run_id": context.shared_tags.get("yieldflow.pipeline_run_id", ""),
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
