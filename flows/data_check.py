"""An ad-hoc data check: ingest and build features, publish the data-quality tables, train
nothing. Use it before pointing the seasonal deployment at a new export."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import flow

from yieldflow.config import DataConfig, TrackingConfig
from yieldflow.flows.run_start import start_run
from yieldflow.tasks.features import build_features
from yieldflow.tasks.ingestion import dataset_fingerprint_of, ingest, publish_ingestion


@flow(name="data-check", flow_run_name="data-check", log_prints=True)
def data_check(
    data: DataConfig = DataConfig(),  # noqa: B008 (pydantic default = UI form default)
    tracking: TrackingConfig = TrackingConfig(),  # noqa: B008
) -> dict[str, Any]:
    """Validate a dataset against the contract; returns the ingestion summary."""
    run = start_run(tracking.output_dir, data.data)
    workspace, data_uri = run.workspace, run.data_uri
    fingerprint = dataset_fingerprint_of(data_uri)
    ingested = ingest(data_uri, fingerprint)
    publish_ingestion(ingested, workspace)
    features = build_features(ingested, data, fingerprint)
    counts = dataclasses.asdict(ingested.accounting)
    return {
        **counts,
        "harvests_usable": len(features.table),
        "harvests_excluded": features.excluded.to_dict("records"),
        "quarantine_report": str(workspace.path("quarantine.csv")),
    }
