"""Ingestion and features by batch of farms (yieldflow.ingest_batches), merged, equal
single-process ingestion: on generated data, on every case of the bad-input corpus
(tests/bad_inputs) and for the stops, whose messages must be the single run's."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from tests.bad_inputs.cases import CASES, STOP_CASES, Case, StopCase
from tests.bad_inputs.dataset import NOW, base_dataset, copy_dataset
from yieldflow.config import DataConfig
from yieldflow.features import build_season_features
from yieldflow.ingest import IngestionError, ingest_dataset
from yieldflow.ingest_batches import (
    ingest_batch,
    merge_batches,
    partition_farms,
    plan_ingestion,
    read_batch,
    write_batch,
)
from yieldflow.storage import LocalSource

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


def assert_same_as_single(root: Path, batches: int, out: Path | None = None) -> None:
    single = ingest_dataset(LocalSource(root), now=NOW)
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


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-bases")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 farms with time zones, re-exports (exact duplicates) and logger faults."""
    from yieldflow.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("generated") / "data"
    generate_dataset(root, farms=6, seasons=3, first_season=2021, seed=5)
    return root


def test_partition_is_contiguous_balanced_and_keeps_listing_order() -> None:
    sensors = [(f"sensors/{farm}/{n}.csv", farm) for farm in ("b", "a", "c", "d") for n in (2, 1)]
    weights = {key: 100 if folder == "a" else 10 for key, folder in sensors}
    parts = partition_farms(sensors, ["e", "a"], 3, weights)
    assert [p.farms for p in parts] == [["a"], ["b", "c"], ["d", "e"]]
    assert [p.number for p in parts] == [0, 1, 2]
    # every file once, each batch's files in listing order (the first copy wins ties)
    assert parts[1].files == [(0, "sensors/b/2.csv", "b"), (1, "sensors/b/1.csv", "b"),
                              (4, "sensors/c/2.csv", "c"), (5, "sensors/c/1.csv", "c")]  # fmt: skip
    assert sorted(f for p in parts for f in p.files) == [
        (i, key, folder) for i, (key, folder) in enumerate(sensors)
    ]
    assert [p.farms for p in partition_farms(sensors, [], 1)] == [["a", "b", "c", "d"]]
    assert len(partition_farms(sensors, [], 50)) == 4  # never an empty batch


@pytest.mark.parametrize("batches", [1, 2, 4, 10])
def test_merged_batches_equal_single_ingestion_on_generated_data(
    generated: Path, batches: int, tmp_path: Path
) -> None:
    assert_same_as_single(generated, batches, tmp_path if batches in (2, 10) else None)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_merged_batches_equal_single_ingestion_on_bad_input(
    case: Case, bases: Path, tmp_path: Path
) -> None:
    root = copy_dataset(base_dataset(case.seasons, bases), tmp_path / "data")
    case.build(root)
    assert_same_as_single(root, 2, tmp_path / "shared")  # one farm alone, two together


@pytest.mark.parametrize("case", STOP_CASES, ids=[c.id for c in STOP_CASES])
def test_stops_say_what_single_ingestion_says(case: StopCase, bases: Path, tmp_path: Path) -> None:
    root = copy_dataset(base_dataset(case.seasons, bases), tmp_path / "data")
    case.build(root)
    try:
        ingest_dataset(LocalSource(root), now=NOW)
    except IngestionError as error:
        with pytest.raises(IngestionError) as batched_error:
            batched(root, 2, tmp_path / "shared")
        assert str(batched_error.value) == str(error)
    else:  # the stop comes later (the split): ingestion itself must agree
        assert_same_as_single(root, 2, tmp_path / "shared")


def test_no_accepted_reading_stops_with_the_single_message(bases: Path, tmp_path: Path) -> None:
    root = copy_dataset(base_dataset(3, bases), tmp_path / "data")
    for path in root.glob("sensors/*/*.csv"):
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join([lines[0], *(x.replace(",20", ",x20", 1) for x in lines[1:])]))
    with pytest.raises(IngestionError) as single:
        ingest_dataset(LocalSource(root), now=NOW)
    assert "no sensor reading passed validation" in str(single.value)
    with pytest.raises(IngestionError) as merged:
        batched(root, 2)
    assert str(merged.value) == str(single.value)
