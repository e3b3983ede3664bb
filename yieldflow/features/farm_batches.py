"""Ingestion and season features by batch of farms, merged into one run's result.

On a Dask cluster the sensor files (nearly all of the data) are split by farm into
batches; each batch is one task that runs the same DuckDB checks (yieldflow.ingest.sensor_query)
and season features (yieldflow.features.seasons) over its own objects only and writes what it
found as Parquet on the run's shared storage. The merge reads them back into the
IngestionResult and SeasonFeatures that single-process ingestion gives, equal to them.

Why batching by farm changes nothing: every cross-row check in the contract stays inside
one farm. A reading's farm_id must equal its folder, so duplicates (same farm_id and
timestamp) and conflicting duplicates only ever pair files of the same folder, and a
batch holds all of a farm's files in listing order (the first copy by file and line is
the one kept, as before). Features are per farm and season. What is dataset-wide is done
once, outside the batches: the listing and its layout (ignored files), farms.csv (whose
time zones the batches receive), harvests.csv (checked against farms.csv), the time that
bounds future timestamps (one `now` for every batch), and in the merge the accounting
sums and identity, the farm notes (sensors without harvests and back) and the stops
(no usable sensor file, no accepted reading) with the single run's messages.

Batches are contiguous ranges of the sorted farm ids (folders and harvest farms), so the
readings, sorted by farm and time in each batch, concatenate into the single run's order.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from yieldflow.contract import SENSOR_VALUE_COLUMNS, SENSORS_DIR
from yieldflow.features.seasons import KEY, SeasonFeatures, build_season_features
from yieldflow.ingest import validation as v
from yieldflow.ingest.accounting import Findings, IngestionError
from yieldflow.ingest.dataset import (
    IngestionResult,
    as_utc,
    classify_files,
    complete_farms,
    farm_timezones,
    load_farms,
    load_harvests,
    open_sensors,
    start_findings,
)
from yieldflow.ingest.sensor_query import SENSOR_COLUMNS_KNOWN, check_sensor_files
from yieldflow.io.source import DataSource, join_uri
from yieldflow.io.storage import read_files, read_uri, write_uri

BATCHES_DIR = "ingest-batches"
# The sensor counts a batch produces; the others (ignored files, harvests) are the plan's.
BATCH_COUNTS = (
    "rows_read",
    "rows_accepted",
    "rows_quarantined",
    "duplicate_rows_dropped",
    "readings_nulled",
    "files_read",
    "files_failed",
)
TABLES = ("readings", "quarantine", "features", "excluded")


@dataclass
class FarmBatch:
    """One batch: its number, its farms (a contiguous range of the sorted farm ids) and
    its sensor files as (listing index, key, folder), in listing order."""

    number: int
    farms: list[str]
    files: list[tuple[int, str, str]]


@dataclass
class IngestionPlan:
    """What is read once for the whole dataset, and the batches of the rest."""

    now: pd.Timestamp
    batches: list[FarmBatch]
    farms: pd.DataFrame | None  # farms.csv as checked; None when absent
    harvests: pd.DataFrame
    head: Findings  # ignored files, farms.csv, harvests.csv: entries, notes, counts
    order: dict[str, int]  # sensor file key -> listing index

    @property
    def timezones(self) -> dict[str, str]:
        return farm_timezones(self.farms)

    def harvests_of(self, batch: FarmBatch) -> pd.DataFrame:
        return self.harvests[self.harvests["farm_id"].isin(batch.farms)].reset_index(drop=True)


@dataclass
class BatchResult:
    """A batch's readings, quarantine entries (in the single run's order for its files),
    feature rows and left-out harvests, sensor counts, notes (with their file) and its
    first failed file (listing index, message suffix) if any."""

    readings: pd.DataFrame
    quarantine: pd.DataFrame
    features: pd.DataFrame
    excluded: pd.DataFrame
    counts: dict[str, int]
    notes: list[tuple[str, str]] = field(default_factory=list)
    first_failure: tuple[int, str] | None = None
    number: int = 0


@dataclass
class BatchRecord:
    """Where a batch's tables are (Parquet URIs) and its small results: what a batch
    task returns to the flow."""

    number: int
    uris: dict[str, str]
    object_columns: dict[str, list[str]]
    counts: dict[str, int]
    notes: list[tuple[str, str]]
    first_failure: tuple[int, str] | None


def plan_ingestion(
    source: DataSource, batches: int, now: pd.Timestamp | None = None
) -> IngestionPlan:
    """List the dataset, read farms.csv and harvests.csv (as ingest_dataset does) and
    split the farms into at most `batches` batches of about equal bytes."""
    if batches < 1:
        raise ValueError("batches must be at least 1")
    now = as_utc(now)
    keys = source.list_files()
    layout = classify_files(keys)
    head = start_findings(layout, source)
    farms = load_farms(source, layout.farms, head)
    harvests = load_harvests(source, layout.harvests, farms, head)
    order = {key: i for i, (key, _) in enumerate(layout.sensors)}
    weights = {key: _size(source, key) for key, _ in layout.sensors}
    parts = partition_farms(layout.sensors, harvests["farm_id"], batches, weights)
    return IngestionPlan(now, parts, farms, harvests, head, order)


def partition_farms(
    sensors: list[tuple[str, str]],
    harvest_farms,
    batches: int,
    weights: dict[str, int] | None = None,
) -> list[FarmBatch]:
    """Contiguous ranges of the sorted farm ids (sensor folders and harvest farms) with
    about equal weight (file bytes; 1 a file when unknown), at most `batches`, none empty.
    A farm with harvests but no sensor file still belongs to a batch (its harvests are
    left out there for no coverage, as in a single run)."""
    weights = weights or {}
    per_farm: dict[str, int] = {str(f): 0 for f in harvest_farms}
    for key, folder in sensors:
        per_farm[folder] = per_farm.get(folder, 0) + max(1, weights.get(key, 1))
    farms = sorted(per_farm)
    weight = {farm: max(1, w) for farm, w in per_farm.items()}
    count = max(1, min(batches, len(farms)))
    groups: list[list[str]] = [[]]
    filled, rest = 0, sum(weight.values())  # rest: the weight not in a closed group
    for i, farm in enumerate(farms):
        if groups[-1] and len(groups) < count:
            target = rest / (count - len(groups) + 1)  # an equal share of what is left
            short = len(farms) - i == count - len(groups)  # one farm left per batch
            if short or filled + weight[farm] / 2 > target:
                groups.append([])
                rest -= filled
                filled = 0
        groups[-1].append(farm)
        filled += weight[farm]
    files_of: dict[str, list[tuple[int, str, str]]] = {}
    for index, (key, folder) in enumerate(sensors):
        files_of.setdefault(folder, []).append((index, key, folder))
    result = []
    for group in (g for g in groups if g):  # none is empty unless there is no farm
        files = sorted(f for farm in group for f in files_of.get(farm, []))
        result.append(FarmBatch(len(result), group, files))
    return result


def ingest_batch(
    source: DataSource,
    batch: FarmBatch,
    plan_timezones: dict[str, str],
    now: pd.Timestamp,
    harvests: pd.DataFrame,
    farms: pd.DataFrame | None,
    min_coverage: float,
) -> BatchResult:
    """One batch: its files checked and validated by DuckDB, then its season features.
    `harvests`: the accepted harvests of the batch's farms. Never raises for an empty
    batch (the merge decides whether the dataset as a whole can be used)."""
    run = Findings()
    sensors = [(key, folder) for _, key, folder in batch.files]
    contents = read_files(source, [key for key, _ in sensors])
    try:
        with tempfile.TemporaryDirectory(prefix="yieldflow-batch-") as downloads:
            opened = open_sensors(source, sensors, contents, Path(downloads), run)
            notes: list[tuple[str, str]] = []
            if opened:
                checks = check_sensor_files(opened, plan_timezones, as_utc(now))
                for fi, (checked, _) in enumerate(opened):
                    before = len(run.notes)
                    extra = [c for c in checked.names if c not in SENSOR_COLUMNS_KNOWN]
                    run.note_extra(checked.key, extra)
                    notes += [(checked.key, note) for note in run.notes[before:]]
                    if not checks.records[fi]:
                        run.file_entry(checked.key, "no data rows (header only)")
                run.found.append(checks.found)
                readings = checks.readings
                counts = {
                    "rows_read": int(checks.records.sum()),
                    "rows_accepted": len(readings),
                    "rows_quarantined": checks.rows_quarantined,
                    "duplicate_rows_dropped": checks.duplicate_rows_dropped,
                    "readings_nulled": checks.readings_nulled,
                }
            else:
                readings = empty_readings()
                counts = dict.fromkeys(BATCH_COUNTS[:5], 0)
    finally:
        close = getattr(contents, "close", None)
        if close is not None:
            close()
    counts |= {"files_read": len(opened), "files_failed": run.accounting.files_failed}
    opened_keys = {checked.key for checked, _ in opened}
    failed = [(i, key) for i, key, _ in batch.files if key not in opened_keys]
    first = (failed[0][0], run.first_failure) if failed else None
    # Without farms.csv the single run derives the farms from sensors and harvests; the
    # rows of this batch's farms are the same (features look only at those).
    farm_table = farms if farms is not None else complete_farms(None, readings, harvests, run)
    features = build_season_features(readings, harvests, farm_table, min_coverage)
    return BatchResult(
        readings=readings,
        quarantine=pd.concat(run.found, ignore_index=True),
        features=features.table,
        excluded=features.excluded,
        counts=counts,
        notes=notes,
        first_failure=first,
        number=batch.number,
    )


def empty_readings() -> pd.DataFrame:
    """No readings, with the dtypes yieldflow.ingest.sensor_query gives readings."""
    return pd.DataFrame(
        {
            "farm_id": pd.array([], dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
            "timestamp": pd.to_datetime(np.zeros(0, dtype="int64"), unit="ns", utc=True),
            **{name: np.zeros(0, dtype="float64") for name in SENSOR_VALUE_COLUMNS},
        }
    )


def batch_folder(base: str, number: int) -> str:
    return join_uri(base, BATCHES_DIR, f"batch-{number:04d}")


def write_batch(result: BatchResult, number: int, base: str) -> BatchRecord:
    """Write the batch's tables as Parquet under `base` (local folder or s3:// URI)."""
    folder = batch_folder(base, number)
    uris, objects = {}, {}
    for name in TABLES:
        frame: pd.DataFrame = getattr(result, name)
        uris[name] = join_uri(folder, f"{name}.parquet")
        objects[name] = [str(c) for c in frame.columns if frame[c].dtype == object]
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_uri(uris[name], buffer.getvalue())
    return BatchRecord(
        number, uris, objects, dict(result.counts), list(result.notes), result.first_failure
    )


def read_batch(record: BatchRecord) -> BatchResult:
    """A batch's result back from its Parquet files, with the dtypes it was written with."""
    tables = {}
    for name in TABLES:
        frame = pd.read_parquet(io.BytesIO(read_uri(record.uris[name])))
        objects = record.object_columns[name]
        tables[name] = frame.astype({c: object for c in objects}) if objects else frame
    tables["quarantine"] = _as_entries(tables["quarantine"])
    return BatchResult(
        **tables,
        counts=dict(record.counts),
        notes=[tuple(n) for n in record.notes],
        first_failure=tuple(record.first_failure) if record.first_failure else None,
        number=record.number,
    )


def merge_batches(
    plan: IngestionPlan, results: list[BatchResult], min_coverage: float
) -> tuple[IngestionResult, SeasonFeatures]:
    """The batches' results as one IngestionResult and SeasonFeatures, equal to what
    ingest_dataset and build_season_features give on the whole dataset."""
    del min_coverage  # the batches applied it; kept for a symmetrical call
    results = sorted(results, key=lambda r: r.number)  # batch order is farm order
    acc = dataclasses.replace(plan.head.accounting)
    for name in BATCH_COUNTS:
        setattr(acc, name, sum(int(r.counts[name]) for r in results))
    run = Findings(accounting=acc, found=list(plan.head.found), notes=list(plan.head.notes))
    run.found += [r.quarantine for r in results]
    if acc.files_read == 0:
        failures = [r.first_failure for r in results if r.first_failure]
        first = min(failures)[1] if failures else ""
        raise IngestionError(
            f"{SENSORS_DIR}/: no usable sensor file ({acc.files_failed} found under "
            f"{SENSORS_DIR}/<farm_id>/, {acc.files_failed} failed{first})"
        )
    readings = _concat([r.readings for r in results])
    if readings.empty:
        top = pd.concat(run.found)["reason"].value_counts()
        raise IngestionError(
            f"{SENSORS_DIR}/: no sensor reading passed validation ({acc.rows_read} rows read; "
            f"most common problem: {top.index[0] if len(top) else 'no data rows'})"
        )
    notes = sorted((plan.order[key], i, note) for r in results for i, (key, note) in
                   enumerate(r.notes))  # fmt: skip
    run.notes += [note for _, _, note in notes]
    farms = complete_farms(plan.farms, readings, plan.harvests, run)
    quarantine = pd.concat(run.found, ignore_index=True)
    quarantine = quarantine.sort_values(["file", "line"], kind="stable").reset_index(drop=True)
    run.accounting.check()
    ingested = IngestionResult(readings, plan.harvests, farms, quarantine, acc, run.notes)
    table = _concat([r.features for r in results])
    table = table.sort_values(KEY).reset_index(drop=True)
    excluded = _concat([r.excluded for r in results])
    where = pd.MultiIndex.from_frame(plan.harvests[KEY]).get_indexer(
        pd.MultiIndex.from_frame(excluded[KEY])
    )
    excluded = excluded.iloc[np.argsort(where, kind="stable")].reset_index(drop=True)
    return ingested, SeasonFeatures(table=table, excluded=excluded)


def ingest_in_batches(
    source: DataSource,
    batches: int,
    min_coverage: float,
    now: pd.Timestamp | None = None,
) -> tuple[IngestionResult, SeasonFeatures]:
    """Plan, every batch, merge, in this process (what the Prefect tasks do spread out)."""
    plan = plan_ingestion(source, batches, now)
    results = [
        ingest_batch(source, batch, plan.timezones, plan.now, plan.harvests_of(batch),
                     plan.farms, min_coverage)
        for batch in plan.batches
    ]  # fmt: skip
    return merge_batches(plan, results, min_coverage)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate, leaving out empty frames (their dtypes could widen the others')."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0].reset_index(drop=True) if frames else pd.DataFrame()
    return pd.concat(full, ignore_index=True) if len(full) > 1 else full[0].reset_index(drop=True)


def _as_entries(frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantine entries with the dtypes validation.entries gives them."""
    dtypes = v.empty_entries().dtypes.to_dict()
    return frame.reindex(columns=list(v.QUARANTINE_COLUMNS)).astype(dtypes)


def _size(source: DataSource, key: str) -> int:
    """A file's bytes where the source knows them cheaply (local stat, S3 listing)."""
    local_path = getattr(source, "local_path", None)
    if local_path is not None:
        try:
            return Path(local_path(key)).stat().st_size
        except OSError:
            return 1
    sizes = getattr(source, "_sizes", None)
    return int(sizes.get(key) or 1) if isinstance(sizes, dict) else 1
