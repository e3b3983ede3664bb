"""Prefect tasks: register the champion refitted on every season, move @champion through
the gate, and load it back for forecasts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.features.seasons import CATEGORICAL_FEATURES, KEY, NUMERIC_FEATURES
from yieldflow.ml.backtest import PointResult, health, point_label
from yieldflow.ml.forecast import ForecastError
from yieldflow.ml.forecaster import SeasonForecaster
from yieldflow.reporting.noise import mlflow_prints_off
from yieldflow.tracking.champion import CHAMPION_ALIAS, Incumbent, decide_champion
from yieldflow.tracking.runs import (
    TAG_MODEL_URI,
    TRACKING_RETRIES,
    TRACKING_RETRY_DELAYS_S,
    TrackingContext,
    log_model_run,
    redact_uri,
)

ENCODER_FILE = "encoder.json"  # written beside every logged single-split model
TAG_KIND = "yieldflow.model"
TAG_SCHEMA = "yieldflow.schema"
TAG_SEASONS = "yieldflow.training_seasons"
CHAMPION_RUN = "champion"
INPUT_COLUMNS = [*KEY, *CATEGORICAL_FEATURES, *NUMERIC_FEATURES]


def current_champion(client: MlflowClient, model_name: str) -> Incumbent | None:
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None
    return Incumbent(
        version=int(version.version),
        model=version.tags.get(TAG_KIND, "unknown"),
        schema=version.tags.get(TAG_SCHEMA, ""),
    )


@task(
    name="register-champion",
    task_run_name="register-{forecaster.model}-as-{model_name}",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def register_champion(
    context: TrackingContext,
    model_name: str,
    forecaster: SeasonForecaster,
    results: Mapping[float, PointResult],
    cv_nrmse: Mapping[str, float],
    schema: str,
    tolerance: float,
    example: Any,
) -> dict[str, Any]:
    """Log the forecaster as its own run, register it, and move @champion if the gate
    allows; returns what was done."""
    from yieldflow.tracking.champion_model import log_champion_model  # mlflow.pyfunc after Prefect

    logger = get_run_logger()
    client = context.client()
    mlflow.set_tracking_uri(context.live_uri())
    incumbent = current_champion(client, model_name)
    seasons = ",".join(map(str, forecaster.seasons))
    harvest = results[max(results)]
    params = {
        "training_seasons": seasons,
        "schema": schema,
        **{f"model_at_{p:g}": m.model.kind for p, m in forecaster.points.items()},
    }
    metrics = {
        "cv_nrmse": cv_nrmse[forecaster.model],
        **{
            f"backtest_{k}": v
            for k, v in health(harvest).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
    }
    run_id = log_model_run(
        context,
        CHAMPION_RUN,
        params,
        metrics,
        log_model=lambda: log_champion_model(forecaster, example[INPUT_COLUMNS]),
    )
    model_uri = client.get_run(run_id).data.tags[TAG_MODEL_URI]
    with mlflow_prints_off():  # the note logged below says what was registered
        version = mlflow.register_model(
            model_uri,
            model_name,
            tags={
                TAG_KIND: forecaster.model,
                TAG_SCHEMA: schema,
                TAG_SEASONS: seasons,
                "yieldflow.pipeline_run_id": context.shared_tags.get(
                    "yieldflow.pipeline_run_id", ""
                ),
                "yieldflow.cv_nrmse": f"{cv_nrmse[forecaster.model]:.6g}",
            },
        )
    decision = decide_champion(forecaster.model, cv_nrmse, incumbent, schema, tolerance)
    if decision.move:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version.version)
    note = (
        f"{model_name} version {version.version} ({forecaster.model}, trained on seasons "
        f"{seasons}) registered; {decision.reason}."
    )
    logger.info(note)
    return {
        "model_name": model_name,
        "version": int(version.version),
        "model": forecaster.model,
        "models_by_point": {point_label(p): m.model.kind for p, m in forecaster.points.items()},
        "training_seasons": forecaster.seasons,
        "alias_moved": decision.move,
        "schema_changed": decision.schema_changed,
        "previous_version": incumbent.version if incumbent else None,
        "mlflow_run_id": run_id,
        "note": note,
    }


@dataclass
class LoadedChampion:
    version: int
    model: str
    training_seasons: list[int]
    forecaster: SeasonForecaster


@task(
    name="load-champion",
    task_run_name="load-champion",
    cache_policy=NO_CACHE,
    retries=TRACKING_RETRIES,
    retry_delay_seconds=TRACKING_RETRY_DELAYS_S,
)
def load_champion(tracking_uri: str, model_name: str, alias: str) -> LoadedChampion:
    """The aliased model version through MLflow (no pickle from a data bucket)."""
    from yieldflow.tracking.champion_model import load_forecaster

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        raise ForecastError(
            f"no model version {model_name}@{alias} in the MLflow registry at "
            f"{redact_uri(tracking_uri)}: run `yieldflow run` first"
        ) from None
    if TAG_SCHEMA not in version.tags:
        raise ForecastError(
            f"{model_name}@{alias} (version {version.version}) was registered by an older "
            "yieldflow without forecast points: run `yieldflow run` to register a new one"
        )
    forecaster = load_forecaster(f"models:/{model_name}@{alias}")
    get_run_logger().info(
        "Loaded %s@%s (version %s, %s, trained on seasons %s)",
        model_name,
        alias,
        version.version,
        forecaster.model,
        ", ".join(map(str, forecaster.seasons)),
    )
    return LoadedChampion(
        version=int(version.version),
        model=forecaster.model,
        training_seasons=forecaster.seasons,
        forecaster=forecaster,
    )
