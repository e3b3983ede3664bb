"""Ingestion and season features by batch of farms, on the run's task runner (a subflow).

Used when the run's task runner is a Dask cluster (yieldflow.features.farm_batches has the
logic and why batching by farm gives the single run's result). The plan and the merge run
in the flow's process; each batch is one task run on a worker (tasks/ingest_batches.py).
"""

from __future__ import annotations

from prefect import flow

from yieldflow.config import PipelineConfig
from yieldflow.features.seasons import SeasonFeatures
from yieldflow.flows.task_runners import task_runner_for
from yieldflow.ingest.dataset import IngestionResult
from yieldflow.io.source import join_uri
from yieldflow.io.workspace import RunWorkspace
from yieldflow.reporting.progress import track
from yieldflow.tasks.ingest_batches import ingest_farm_batch, merge_ingestion_batches, plan_batches


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
