"""Prefect tasks of the farm-batch ingestion (flows/farm_batch_ingestion.py): plan the
batches, ingest one batch on a worker (its tables written as Parquet under the run's
shared storage, its URIs and counts returned, not DataFrames), merge them."""

from __future__ import annotations

import time

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.features.farm_batches import (
    BatchRecord,
    FarmBatch,
    IngestionPlan,
    ingest_batch,
    merge_batches,
    plan_ingestion,
    read_batch,
    write_batch,
)
from yieldflow.features.seasons import SeasonFeatures
from yieldflow.ingest.dataset import IngestionResult
from yieldflow.io.storage import open_source


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
