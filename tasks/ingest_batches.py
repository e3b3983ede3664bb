"""Prefect tasks: ingestion and season features by batch of farms, on the run's task runner.

Used when the run's task runner is a Dask cluster (yieldflow.ingest_batches has the logic
and why batching by farm gives the single run's result). The plan (listing, farms.csv,
harvests.csv) and the merge run in the flow's process; each batch is one task run on a
worker, which reads only its batch's objects and writes its tables as Parquet under the
run's shared storage (`orchestration.shared_storage`/<run id>/ingest-batches/, or the run
folder when none is set), returning their URIs and its counts, not DataFrames.
"""

from __future__ import annotations

import time

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.task_runners import task_runner_for
from yieldflow.config import PipelineConfig
from yieldflow.features import SeasonFeatures
from yieldflow.ingest import IngestionResult
from yieldflow.ingest_batches import (
    BatchRecord,
    FarmBatch,
    IngestionPlan,
    ingest_batch,
    merge_batches,
    plan_ingestion,
    read_batch,
    write_batch,
)
from yieldflow.progress import track
from yieldflow.storage import join_uri, open_source
from yieldflow.workspace import RunWorkspace


@task(name="plan-ingestion-batches", task_run_name="plan-ingestion-batches", cache_policy=NO_CACHE)
def plan_batches(data_uri: str, batches: int) -> IngestionPlan:
    plan = plan_ingestion(open_source(data_uri), batches)
    get_run_logger().info(
        "Ingesting %d sensor files of %d farms in %d batches",
        len(plan.order),
        sum(len(b.farms) for b in plan.batches),
        len(plan.batches),
    )
    return plan


@task(name="ingest-farm-batch", cache_policy=NO_CACHE, retries=1)
def ingest_farm_batch(
    data_uri: str,
    batch: FarmBatch,
    timezones: dict[str, str],
    now: pd.Timestamp,
    harvests: pd.DataFrame,
    farms: pd.DataFrame | None,
    min_coverage: float,
    base: str,
) -> BatchRecord:
    """One batch on a worker: DuckDB over its objects, its features, Parquet out.
    Re-running it (a worker died) rewrites the same files, each write atomic."""
    started = time.perf_counter()
    result = ingest_batch(
        open_source(data_uri), batch, timezones, now, harvests, farms, min_coverage
    )
    record = write_batch(result, batch.number, base)
    get_run_logger().info(
        "Batch %d (%s..%s, %d files): %d rows read, %d accepted, %d feature rows in %.1f s",
        batch.number, batch.farms[0], batch.farms[-1], len(batch.files),
        result.counts["rows_read"], result.counts["rows_accepted"], len(result.features),
        time.perf_counter() - started,
    )  # fmt: skip
    return record


@task(
    name="merge-ingestion-batches", task_run_name="merge-ingestion-batches", cache_policy=NO_CACHE
)
def merge_ingestion_batches(
    plan: IngestionPlan, records: list[BatchRecord], min_coverage: float
) -> tuple[IngestionResult, SeasonFeatures]:
    ingested, features = merge_batches(plan, [read_batch(r) for r in records], min_coverage)
    acc, logger = ingested.accounting, get_run_logger()
    logger.info(
        "Ingested %d sensor rows from %d files in %d batches: %d accepted, %d quarantined, "
        "%d duplicates dropped, %d values nulled; %d harvests accepted; features for %d "
        "harvests (%d left out for thin sensor coverage)",
        acc.rows_read, acc.files_read, len(records), acc.rows_accepted, acc.rows_quarantined,
        acc.duplicate_rows_dropped, acc.readings_nulled, acc.harvest_rows_accepted,
        len(features.table), len(features.excluded),
    )  # fmt: skip
    for row in features.excluded.itertuples():
        logger.warning("Left out %s %s: %s", row.farm_id, row.season, row.reason)
    return ingested, features


@flow(name="ingest-by-farm-batches", flow_run_name="ingest-by-farm-batches")
def ingest_by_farm_batches(
    data_uri: str, config: PipelineConfig, base: str
) -> tuple[IngestionResult, SeasonFeatures]:
    """Plan here, every batch on the task runner at once, then merge here."""
    min_coverage = config.data.min_coverage
    plan = plan_batches(data_uri, config.orchestration.ingest_batches)
    futures = [
        ingest_farm_batch.with_options(task_run_name=f"ingest-farm-batch-{batch.number}").submit(
            data_uri, batch, plan.timezones, plan.now, plan.harvests_of(batch), plan.farms,
            min_coverage, base,
        )
        for batch in plan.batches
    ]  # fmt: skip
    records = []
    with track("ingestion", len(futures), "farm batches ingested") as progress:
        for number, future in enumerate(futures, start=1):
            records.append(future.result())
            progress.update(number)
    return merge_ingestion_batches(plan, records, min_coverage)


def ingest_in_farm_batches(
    data_uri: str, config: PipelineConfig, run_id: str, workspace: RunWorkspace
) -> tuple[IngestionResult, SeasonFeatures]:
    """Run the batches on the configured task runner; their Parquet goes under
    shared_storage/<run id>/ (the run folder when no shared storage is set)."""
    shared = config.orchestration.shared_storage
    base = join_uri(shared, run_id) if shared else str(workspace.root)
    runner = task_runner_for(config.orchestration.task_runner)
    return ingest_by_farm_batches.with_options(task_runner=runner)(data_uri, config, base)
