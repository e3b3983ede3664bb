"""Prefect task: read and validate a dataset, quarantine what breaks the contract."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.ingest import IngestionResult, ingest_dataset, write_quarantine_report
from yieldflow.storage import open_source
from yieldflow.workspace import RunWorkspace


@task(name="ingest-sensor-data", cache_policy=NO_CACHE)
def ingest(data_uri: str, workspace: RunWorkspace) -> IngestionResult:
    """Validate every file; write the quarantine report and ingestion summary to the run."""
    logger = get_run_logger()
    result = ingest_dataset(open_source(data_uri))
    report = write_quarantine_report(result, workspace.path("quarantine.csv"))
    workspace.write_json("ingestion_summary.json", result.summary())
    acc = result.accounting
    logger.info(
        "Ingested %d sensor rows from %d files: %d accepted, %d quarantined, %d duplicates "
        "dropped, %d values nulled; %d harvests accepted",
        acc.rows_read,
        acc.files_read,
        acc.rows_accepted,
        acc.rows_quarantined,
        acc.duplicate_rows_dropped,
        acc.readings_nulled,
        acc.harvest_rows_accepted,
    )
    if len(result.quarantine):
        logger.warning("%d quarantine entries, see %s", len(result.quarantine), report)
    for note in result.notes:
        logger.warning(note)
    return result
