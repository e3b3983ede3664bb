"""Bad input through the real ingestion path: a corpus of damaged datasets
(tests/support/bad_inputs).

Each case starts from a clean generated dataset (3 farms, 3 seasons from 2021) and applies
exactly one kind of damage. Either the run goes on, with the damage quarantined and counted
(checked through ingest_dataset, the quarantine report and, where the case is about them,
the season features and the split), or it stops with one `error:` line that names the file
and the problem (checked through the real `yieldflow run` command against one Prefect
server started for this module).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from tests.support.bad_inputs.cases import CASES, STOP_CASES, Case, StopCase
from tests.support.bad_inputs.corpus import Corpus, features_of
from tests.support.bad_inputs.dataset import NOW, copy_dataset
from tests.support.farm_batches import assert_batches_give
from yieldflow.config import SplitConfig
from yieldflow.features.seasons import SeasonFeatures
from yieldflow.features.split import InsufficientSeasonsError, temporal_split
from yieldflow.ingest.dataset import (
    IngestionError,
    IngestionResult,
    ingest_dataset,
    write_quarantine_report,
)
from yieldflow.ingest.validation import QUARANTINE_COLUMNS
from yieldflow.io.local import LocalSource
from yieldflow.io.source import safe_relative_key

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("bad-inputs-bases"))


def feature_keys(features: SeasonFeatures) -> set[tuple[str, int]]:
    return set(zip(features.table["farm_id"], features.table["season"], strict=True))


def report_entries(result: IngestionResult, path: Path) -> list[tuple]:
    """The quarantine report as written for people: one tuple per entry."""
    report = pd.read_csv(write_quarantine_report(result, path), dtype=str, keep_default_na=False)
    assert list(report.columns) == list(QUARANTINE_COLUMNS)
    return [(f, int(n), c, raw, reason, scope) for f, n, c, raw, reason, scope in report.values]


# --- the run goes on: damage quarantined and counted ---------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_damage_is_quarantined_and_counted(case: Case, corpus: Corpus, tmp_path: Path) -> None:
    clean, clean_features = corpus.clean(case.seasons)
    root = copy_dataset(corpus.base(case.seasons), tmp_path / "data")
    expected = case.build(root)

    result = ingest_dataset(LocalSource(root), now=NOW)
    # the Dask path: one farm alone, two together (the Parquet round trip is tested on
    # generated data in test_ingest_batches.py)
    assert_batches_give(result, root, 2)

    acc = result.accounting
    acc.check()
    assert acc.rows_read == acc.rows_accepted + acc.rows_quarantined + acc.duplicate_rows_dropped
    assert acc.rows_accepted == len(result.readings)
    assert acc.harvest_rows_accepted == len(result.harvests)
    counts = asdict(clean.accounting)
    for name, change in expected.delta.items():
        counts[name] += change
    assert asdict(acc) == counts
    entries = report_entries(result, tmp_path / "quarantine.csv")
    assert sorted(entries) == sorted(expected.entries)
    q = result.quarantine
    assert (q["scope"] == "row").sum() == acc.rows_quarantined
    assert (q["scope"] == "value").sum() == acc.readings_nulled
    assert (q["scope"] == "harvest").sum() == acc.harvest_rows_quarantined
    assert result.notes == expected.notes
    if expected.same_readings:
        readings = result.readings.replace({"farm_id": expected.farm_renames})
        readings = readings.sort_values(["farm_id", "timestamp"], kind="stable")
        pd.testing.assert_frame_equal(readings.reset_index(drop=True), clean.readings)

    if not expected.checks_features:
        return
    features = features_of(result)
    if expected.same_features:
        pd.testing.assert_frame_equal(features.table, clean_features.table)
        pd.testing.assert_frame_equal(features.excluded, clean_features.excluded)
    if expected.features_missing is not None:
        kept = feature_keys(features)
        assert kept <= feature_keys(clean_features)
        assert feature_keys(clean_features) - kept == set(expected.features_missing)
        same = clean_features.table.merge(features.table[["farm_id", "season"]])
        pd.testing.assert_frame_equal(features.table, same)  # the others are untouched
    if expected.excluded is not None:
        got = [tuple(row) for row in features.excluded[["farm_id", "season", "reason"]].values]
        assert sorted(got) == sorted(expected.excluded)
    if expected.split is not None:
        assert temporal_split(features.table["season"], SplitConfig()).as_dict() == expected.split
    if expected.split_error is not None:
        with pytest.raises(InsufficientSeasonsError) as stop:
            temporal_split(features.table["season"], SplitConfig())
        assert expected.split_error in str(stop.value)


def test_the_corpus_is_large_enough() -> None:
    ids = [c.id for c in CASES] + [c.id for c in STOP_CASES]
    assert len(ids) == len(set(ids)) >= 30


# --- keys that would leave the dataset root ------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../outside.csv", "sensors/../../outside.csv", "sensors/F01/../../../outside.csv"],
    ids=["key-dotdot", "key-dotdot-nested", "key-dotdot-deep"],
)
def test_key_with_dotdot_is_refused(key: str, tmp_path: Path) -> None:
    (tmp_path / "outside.csv").write_text("not yours\n")
    root = tmp_path / "data" / "sensors" / "F01"
    root.mkdir(parents=True)
    with pytest.raises(ValueError, match=r"^unsafe path in dataset: "):
        safe_relative_key(key)
    source = LocalSource(root.parent.parent)
    with pytest.raises(ValueError, match=r"^unsafe path in dataset: '.*\.\./"):
        source.read_bytes(key)
    from yieldflow.io.s3 import S3Source

    with pytest.raises(ValueError, match=r"^unsafe path in dataset: "):  # before any request
        S3Source("s3://farm-data/exports").read_bytes(key)


# --- the run stops: one line naming the file and the problem -------------------------------


@pytest.mark.parametrize("case", STOP_CASES, ids=[c.id for c in STOP_CASES])
def test_stop_is_one_line_naming_the_problem(
    case: StopCase, corpus: Corpus, tmp_path: Path
) -> None:
    """The same stages the flow runs, in process: the first error is the stop."""
    root = copy_dataset(corpus.base(case.seasons), tmp_path / "data")
    named = case.build(root)
    with pytest.raises((IngestionError, InsufficientSeasonsError)) as stop:
        result = ingest_dataset(LocalSource(root), now=NOW)
        temporal_split(features_of(result).table["season"], SplitConfig())
    line = f"{type(stop.value).__name__}: {stop.value}"
    assert "\n" not in line
    for part in named:
        assert part in line, line
