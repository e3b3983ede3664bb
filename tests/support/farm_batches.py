"""Ingestion by farm batch, run in process as the Dask tasks run it, and the check that it
gives what one ingestion of the whole dataset gives."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from tests.support.bad_inputs.dataset import NOW
from yieldflow.config import DataConfig
from yieldflow.features.farm_batches import (
    ingest_batch,
    merge_batches,
    plan_ingestion,
    read_batch,
    write_batch,
)
from yieldflow.features.seasons import build_season_features
from yieldflow.ingest.dataset import IngestionResult
from yieldflow.io.local import LocalSource

MIN_COVERAGE = DataConfig().min_coverage


def batched(root: Path, batches: int, out: Path | None = None):
    """Plan, every batch (through Parquet when `out` is given), merge."""
    source = LocalSource(root)
    plan = plan_ingestion(source, batches, NOW)
    results = [
        ingest_batch(source, batch, plan.timezones, plan.now, plan.harvests_of(batch),
                     plan.farms, MIN_COVERAGE)
        for batch in plan.batches
    ]  # fmt: skip
    if out is not None:  # as the tasks do: written, then read back in another order
        records = [write_batch(r, r.number, str(out)) for r in results]
        results = [read_batch(record) for record in reversed(records)]
    return plan, *merge_batches(plan, results, MIN_COVERAGE)


def assert_batches_give(
    single: IngestionResult, root: Path, batches: int, out: Path | None = None
) -> None:
    """Ingesting `root` in farm batches gives `single` (one ingestion) and its features."""
    features = build_season_features(single.readings, single.harvests, single.farms, MIN_COVERAGE)
    plan, merged, merged_features = batched(root, batches, out)
    assert len(plan.batches) == min(batches, len(set(single.farms["farm_id"])))
    for name in ("readings", "harvests", "farms", "quarantine"):
        pd.testing.assert_frame_equal(getattr(merged, name), getattr(single, name), obj=name)
    assert asdict(merged.accounting) == asdict(single.accounting)
    assert merged.notes == single.notes
    acc = merged.accounting
    assert acc.rows_read == acc.rows_accepted + acc.rows_quarantined + acc.duplicate_rows_dropped
    pd.testing.assert_frame_equal(merged_features.table, features.table)
    pd.testing.assert_frame_equal(merged_features.excluded, features.excluded)
