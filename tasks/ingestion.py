"""Prefect tasks: read and validate a dataset (cached), then publish what was quarantined.

Ingestion is cached on the dataset's fingerprint (every file's key, size and version) and
the ingestion code, with its result persisted: a run re-started after a crash reuses it
instead of re-reading everything.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from yieldflow.fingerprint import code_fingerprint
from yieldflow.ingest import IngestionResult, ingest_dataset, write_quarantine_report
from yieldflow.storage import open_source
from yieldflow.workspace import RunWorkspace

INGESTION_CODE = (
    "yieldflow.contract",
    "yieldflow.ingest",
    "yieldflow.ingest_parse",
    "yieldflow.validation",
)
CACHE_EXPIRATION = timedelta(days=30)


def dataset_fingerprint_of(data_uri: str) -> str:
    """The cache token of a dataset: changes when any file changes."""
    return open_source(data_uri).fingerprint()


def _ingestion_key(context: Any, parameters: dict[str, Any]) -> str:
    return f"ingest-{parameters['fingerprint']}-{code_fingerprint(INGESTION_CODE)}"


@task(
    name="ingest-sensor-data",
    cache_key_fn=_ingestion_key,
    cache_expiration=CACHE_EXPIRATION,
    persist_result=True,
)
def ingest(data_uri: str, fingerprint: str) -> IngestionResult:
    """Validate every file against the contract (pure: writes nothing)."""
    result = ingest_dataset(open_source(data_uri))
    acc = result.accounting
    get_run_logger().info(
        "Ingested %d sensor rows from %d files: %d accepted, %d quarantined, %d duplicates "
        "dropped, %d values nulled; %d harvests accepted",
        acc.rows_read, acc.files_read, acc.rows_accepted, acc.rows_quarantined,
        acc.duplicate_rows_dropped, acc.readings_nulled, acc.harvest_rows_accepted,
    )  # fmt: skip
    return result


@task(name="publish-ingestion-report", cache_policy=NO_CACHE)
def publish_ingestion(result: IngestionResult, workspace: RunWorkspace) -> None:
    """The quarantine report and ingestion summary in this run's folder (also on a cache
    hit, so every run folder is complete)."""
    logger = get_run_logger()
    report = write_quarantine_report(result, workspace.path("quarantine.csv"))
    summary = result.summary()
    workspace.write_json("ingestion_summary.json", summary)
    create_table_artifact(
        key="data-quality",
        table=[
            {"measure": k, "value": v} for k, v in dataclasses.asdict(result.accounting).items()
        ],
        description="Row accounting: read = accepted + quarantined + duplicates dropped",
    )
    top = summary.get("top_quarantine_reasons", {})
    if top:
        create_table_artifact(
            key="quarantine-reasons",
            table=[{"reason": reason, "count": count} for reason, count in top.items()],
            description=f"Most frequent quarantine reasons (every entry in {report.name})",
        )
    if len(result.quarantine):
        logger.warning("%d quarantine entries, see %s", len(result.quarantine), report)
    for note in result.notes:
        logger.warning(note)
