"""Ingestion and features by batch of farms (yieldflow.features.farm_batches), merged, equal
single-process ingestion: on generated data, on every case of the bad-input corpus
(tests/bad_inputs) and for the stops, whose messages must be the single run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bad_inputs.cases import STOP_CASES, StopCase
from tests.support.bad_inputs.dataset import NOW, base_dataset, copy_dataset
from tests.support.farm_batches import assert_batches_give, batched
from yieldflow.config import DataConfig
from yieldflow.features.farm_batches import (
    partition_farms,
)
from yieldflow.ingest.dataset import IngestionError, ingest_dataset
from yieldflow.io.local import LocalSource

MIN_COVERAGE = DataConfig().min_coverage


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
    single = ingest_dataset(LocalSource(generated), now=NOW)
    assert_batches_give(single, generated, batches, tmp_path if batches in (2, 10) else None)


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
        assert_batches_give(ingest_dataset(LocalSource(root), now=NOW), root, 2, tmp_path)


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
