"""Prefect tasks: read and validate a dataset (cached), then publish what was quarantined.

Ingestion is cached on the dataset's fingerprint (every file's key, size and version) and
the ingestion code, with its result persisted: a run re-started after a crash reuses it
instead of re-reading everything. The result is stored as yieldflow.ingest.store packs it
(readings as Parquet), not pickled: ~6x smaller, so persisting it on every fresh run costs
a fraction of the time and memory.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from datetime import timedelta
from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.serializers import Serializer

from yieldflow.ingest.dataset import IngestionResult, ingest_dataset, write_quarantine_report
from yieldflow.ingest.store import pack_ingestion, unpack_ingestion
from yieldflow.io.fingerprint import code_fingerprint
from yieldflow.io.source import DataSource
from yieldflow.io.storage import open_source
from yieldflow.io.workspace import RunWorkspace
from yieldflow.reporting.progress import StageProgress, track

INGESTION_CODE = (
    "yieldflow.contract",
    "yieldflow.ingest.dataset",
    "yieldflow.ingest.read",
    "yieldflow.ingest.accounting",
    "yieldflow.ingest.store",
    "yieldflow.ingest.sensor_query",
    "yieldflow.ingest.validation",
)
CACHE_EXPIRATION = timedelta(days=30)


def dataset_fingerprint_of(data_uri: str) -> str:
    """The cache token of a dataset: changes when any file changes."""
    return open_source(data_uri).fingerprint()


class CountingSource:
    """A dataset source that reports every file read to a stage's progress.

    The total is the number of files listed plus one step for validation, so the bar waits
    short of the end while the rows are checked. Other attributes pass through (e.g. S3's
    max_workers: reads then report from download threads, which StageProgress allows).
    """

    def __init__(self, source: DataSource, progress: StageProgress) -> None:
        self._source, self._progress = source, progress
        self.uri = source.uri

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def list_files(self) -> list[str]:
        files = self._source.list_files()
        self._progress.update(0, len(files) + 1)
        return files

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._source.read_bytes(key)
        finally:
            self._progress.advance()

    def fingerprint(self) -> str:
        return self._source.fingerprint()


class IngestionSerializer(Serializer):
    """Prefect result serializer for the ingestion cache (base64: Prefect keeps results as
    text inside a JSON record). Registered by its type name when this module is imported,
    which a cache hit needs, as every flow that calls ingest does."""

    type: Literal["yieldflow-ingestion"] = "yieldflow-ingestion"

    def dumps(self, obj: IngestionResult) -> bytes:
        return base64.b64encode(pack_ingestion(obj))

    def loads(self, blob: bytes) -> IngestionResult:
        return unpack_ingestion(base64.b64decode(blob))


def _ingestion_key(context: Any, parameters: dict[str, Any]) -> str:
    return f"ingest-{parameters['fingerprint']}-{code_fingerprint(INGESTION_CODE)}"


@task(
    name="ingest-sensor-data",
    task_run_name="ingest-sensor-data",
    cache_key_fn=_ingestion_key,
    cache_expiration=CACHE_EXPIRATION,
    persist_result=True,
    result_serializer=IngestionSerializer(),
)
def ingest(data_uri: str, fingerprint: str) -> IngestionResult:
    """Validate every file against the contract (pure: writes nothing)."""
    started = time.perf_counter()
    with track("ingestion", 1, "files read, then validation") as progress:
        result = ingest_dataset(CountingSource(open_source(data_uri), progress))
    acc = result.accounting
    get_run_logger().info(
        "Ingested %d sensor rows from %d files in %.1f s: %d accepted, %d quarantined, "
        "%d duplicates dropped, %d values nulled; %d harvests accepted",
        acc.rows_read, acc.files_read, time.perf_counter() - started, acc.rows_accepted,
        acc.rows_quarantined, acc.duplicate_rows_dropped, acc.readings_nulled,
        acc.harvest_rows_accepted,
    )  # fmt: skip
    return result


@task(
    name="publish-ingestion-report", task_run_name="publish-ingestion-report", cache_policy=NO_CACHE
)
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
        scopes = summary.get("quarantine_by_scope", {})
        logger.warning(
            "Quarantined: %s; top reasons: %s; every entry in %s",
            ", ".join(f"{n} {scope} entries" for scope, n in scopes.items()),
            ", ".join(f"{reason} ({n})" for reason, n in list(top.items())[:3]),
            report,
        )
    for note in result.notes:
        logger.warning(note)
