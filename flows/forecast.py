"""The forecast flow: @champion predictions, with an interval, for a season not harvested yet."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from yieldflow.config import ForecastConfig
from yieldflow.flows.run_start import start_run
from yieldflow.io.storage import open_source
from yieldflow.ml.forecast import REFUSED, forecast_table, planned_windows
from yieldflow.tasks.champion import LoadedChampion, load_champion
from yieldflow.tasks.ingestion import dataset_fingerprint_of, ingest, publish_ingestion
from yieldflow.tracking.runs import (
    flow_source,
    log_bytes,
    redact_uri,
    resolve_tracking_uri,
    start_pipeline_run,
)

FORECAST_KEY = "yield-forecast"


def _run_name() -> str:
    config = flow_run.parameters.get("config")
    season = config.get("season") if isinstance(config, dict) else getattr(config, "season", None)
    return f"forecast-{season or 'latest'}"


@task(name="predict-season", task_run_name="predict-season", cache_policy=NO_CACHE)
def predict_season(
    ingested: Any, data_uri: str, config: ForecastConfig, champion: LoadedChampion
) -> pd.DataFrame:
    """Every planned farm forecast as of the day, or refused with its reason."""
    logger = get_run_logger()
    windows = planned_windows(open_source(data_uri), config.season)
    table = forecast_table(
        ingested.readings,
        windows,
        ingested.farms,
        champion.forecaster,
        config.as_of,
        config.min_coverage,
    )
    for row in table[table["status"] == REFUSED].itertuples():
        logger.warning("Refused %s: %s", row.farm_id, row.note)
    return table


@flow(name="forecast", flow_run_name=_run_name, log_prints=True)
def forecast(
    config: ForecastConfig = ForecastConfig(),  # noqa: B008 (pydantic default = UI form default)
) -> dict[str, Any]:
    """Predict every planned farm of a season; CSV, Prefect table artifact and MLflow run."""
    logger = get_run_logger()
    run = start_run(config.tracking.output_dir, config.data)
    run_id, workspace, data_uri = run.run_id, run.workspace, run.data_uri
    tracking_uri = resolve_tracking_uri()
    champion = load_champion(tracking_uri, config.model_name, config.alias)
    ingested = ingest(data_uri, dataset_fingerprint_of(data_uri))
    publish_ingestion(ingested, workspace)
    table = predict_season(ingested, data_uri, config, champion)
    season = int(table["season"].iloc[0])
    days = sorted(d for d in table["as_of"].unique() if d)
    as_of = (
        config.as_of.isoformat()
        if config.as_of
        else (f"{days[0]} to {days[-1]}" if len(days) > 1 else (days[0] if days else "none"))
    )
    forecast_count = int((table["status"] != REFUSED).sum())
    csv_path = workspace.path(f"forecast-{season}.csv")
    table.to_csv(csv_path, index=False)
    create_table_artifact(
        key=FORECAST_KEY,
        table=table.astype(object).where(table.notna(), None).to_dict("records"),
        description=f"Season {season} yield forecast as of {as_of} by "
        f"{config.model_name}@{config.alias} (version {champion.version}, {champion.model}, "
        f"trained on seasons {', '.join(map(str, champion.training_seasons))}); 80% "
        "intervals calibrated on out-of-fold residuals; refused farms give their reason",
    )
    context = start_pipeline_run(
        tracking_uri,
        config.tracking.experiment,
        f"forecast-{season}",
        {
            "yieldflow.forecast_season": str(season),
            "yieldflow.pipeline_run_id": run_id,
            "yieldflow.data_uri": redact_uri(data_uri),
            **flow_source(__file__),
        },
    )
    client = context.client()
    client.log_param(context.parent_run_id, "model", f"{config.model_name}@{config.alias}")
    client.log_param(context.parent_run_id, "model_version", champion.version)
    client.log_param(context.parent_run_id, "as_of", as_of)
    client.log_metric(context.parent_run_id, "farms_forecast", forecast_count)
    client.log_metric(context.parent_run_id, "farms_refused", len(table) - forecast_count)
    log_bytes(client, context.parent_run_id, csv_path.name, csv_path.read_bytes())
    client.set_terminated(context.parent_run_id)
    logger.info(
        "Forecast as of %s for %d of %d farms of season %d written to %s",
        as_of,
        forecast_count,
        len(table),
        season,
        csv_path,
    )
    return {
        "season": season,
        "as_of": as_of,
        "training_seasons": champion.training_seasons,
        "model": f"{config.model_name}@{config.alias}",
        "model_version": champion.version,
        "farms": len(table),
        "farms_refused": len(table) - forecast_count,
        "csv": str(csv_path),
        "mlflow_run_id": context.parent_run_id,
        "forecast": table.astype(object).where(table.notna(), None).to_dict("records"),
    }
