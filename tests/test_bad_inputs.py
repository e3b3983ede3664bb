"""Bad input through the real ingestion path: a corpus of damaged datasets (tests/bad_inputs).

Each case starts from a clean generated dataset (3 farms, 3 seasons from 2021) and applies
exactly one kind of damage. Either the run goes on, with the damage quarantined and counted
(checked through ingest_dataset, the quarantine report and, where the case is about them,
the season features and the split), or it stops with one `error:` line that names the file
and the problem (checked through the real `yieldflow run` command against one Prefect
server started for this module).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from tests.bad_inputs.cases import CASES, STOP_CASES, Case, StopCase
from tests.bad_inputs.dataset import NOW, base_dataset, copy_dataset
from tests.bad_inputs.huge import run_memory_probe, write_huge_dataset
from tests.servers import ManagedProcess, free_port
from yieldflow.config import DataConfig, SplitConfig
from yieldflow.features import SeasonFeatures, build_season_features
from yieldflow.ingest import (
    IngestionError,
    IngestionResult,
    ingest_dataset,
    write_quarantine_report,
)
from yieldflow.split import InsufficientSeasonsError, temporal_split
from yieldflow.storage import LocalSource, safe_relative_key
from yieldflow.validation import QUARANTINE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MIN_COVERAGE = DataConfig().min_coverage
HUGE_ROWS = 2_000_000
# Ingesting the ~110 MB file: DuckDB streams its checked rows straight into the readings'
# arrays; peak RSS growth measured 1.2x the file (134 MB; 3.7x with the hand-written
# batched parser before DuckDB, 6.4x when it parsed the file whole), mostly the readings.
HUGE_GROWTH_OF_FILE = 4.5
# Half the rows: the growth the other half adds, per byte of it, is about the typed rows
# (measured 2.3x), not the rows' strings (5.4x when the file was parsed whole).
HUGE_GROWTH_OF_ADDED_BYTES = 3.5


class Corpus:
    """The clean bases, and what ingesting them gives (each made once per module)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self._clean: dict[int, tuple[IngestionResult, SeasonFeatures]] = {}

    def base(self, seasons: int) -> Path:
        return base_dataset(seasons, self.where)

    def clean(self, seasons: int) -> tuple[IngestionResult, SeasonFeatures]:
        if seasons not in self._clean:
            result = ingest_dataset(LocalSource(self.base(seasons)), now=NOW)
            assert result.quarantine.empty and not result.notes  # the damage is all there is
            self._clean[seasons] = (result, features_of(result))
        return self._clean[seasons]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("bad-inputs-bases"))


def features_of(result: IngestionResult) -> SeasonFeatures:
    return build_season_features(result.readings, result.harvests, result.farms, MIN_COVERAGE)


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
    from yieldflow.s3 import S3Source

    with pytest.raises(ValueError, match=r"^unsafe path in dataset: "):  # before any request
        S3Source("s3://farm-data/exports").read_bytes(key)


# --- a huge file ---------------------------------------------------------------------------


def huge_growth(root: Path, rows: int) -> tuple[float, float, dict]:
    """Write `rows` minute readings in one file and ingest them in a fresh interpreter:
    (file MB, peak RSS growth MB, the probe's report)."""
    path = write_huge_dataset(root, rows)
    report = run_memory_probe("tests.bad_inputs.huge", str(root))
    days = -(-rows // 1440)
    acc = report["accounting"]
    assert (acc["rows_read"], acc["rows_accepted"], acc["readings_nulled"]) == (rows, rows, days)
    assert report["quarantine_entries"] == days
    return path.stat().st_size / 2**20, report["rss_peak_mb"] - report["rss_before_mb"], report


def test_huge_file_is_ingested_with_bounded_memory(tmp_path: Path, record_property) -> None:
    """~2 million rows (~110 MB) in one file are streamed: peak RSS growth stays a small
    multiple of the file, and what half of the rows add is about their typed rows."""
    half_mb, half_growth, _ = huge_growth(tmp_path / "half", HUGE_ROWS // 2)
    size_mb, growth, report = huge_growth(tmp_path / "huge", HUGE_ROWS)
    added = (growth - half_growth) / (size_mb - half_mb)
    summary = (
        f"{HUGE_ROWS} rows, {size_mb:.0f} MB file: ingestion {report['seconds']:.1f} s, "
        f"peak RSS growth {growth:.0f} MB ({growth / size_mb:.1f}x the file); "
        f"{HUGE_ROWS // 2} rows: {half_growth:.0f} MB; the added half: {added:.1f}x its bytes"
    )
    record_property("huge_file", summary)
    print(summary)
    assert growth < HUGE_GROWTH_OF_FILE * size_mb, summary
    assert added < HUGE_GROWTH_OF_ADDED_BYTES, summary


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


CLI_STOP_CASES = [c for c in STOP_CASES if c.cli]


def _run_cli(root: Path, workdir: Path, api: str) -> subprocess.CompletedProcess[str]:
    """`yieldflow run` as a user runs it, against the module's Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "AWS_"))}
    env |= {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(workdir / "prefect"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'm.db'}",
        "YIELDFLOW_CACHE": str(workdir / "cache"),
    }
    command = ["run", "--data", str(root), "--max-epochs", "5", "--rf-n-estimators", "10"]
    return subprocess.run(
        [str(BIN / "yieldflow"), *command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cli_runs(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory, request):
    """Every selected CLI stop case, run two at a time against one Prefect server started
    for this module (~5 s a run instead of ~20 s with Prefect's ephemeral server); yields
    {case id: future of (what the error line must name, the finished process)}."""
    wanted = {
        item.callspec.params["case"].id
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_run_stops_with_one_clear_line"
    }
    logs = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env |= {"PREFECT_HOME": str(logs / "home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = ManagedProcess(
        "prefect-server",
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", port],
        log_dir=logs,
        env=env,
        health=f"http://127.0.0.1:{port}/api/health",
        startup_timeout=180,
    )
    api = f"http://127.0.0.1:{port}/api"
    with server, ThreadPoolExecutor(max_workers=2) as pool:  # the pool drains first
        runs = {}
        for case in CLI_STOP_CASES:
            if case.id in wanted:
                workdir = tmp_path_factory.mktemp(case.id)
                root = copy_dataset(corpus.base(case.seasons), workdir / "data")
                named = case.build(root)
                runs[case.id] = (named, pool.submit(_run_cli, root, workdir, api))
        yield runs


@pytest.mark.integration
@pytest.mark.parametrize("case", CLI_STOP_CASES, ids=[c.id for c in CLI_STOP_CASES])
def test_run_stops_with_one_clear_line(case: StopCase, cli_runs) -> None:
    named, future = cli_runs[case.id]
    done = future.result()
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output[-3000:]
    for part in named:
        assert part in errors[0], errors[0]
    assert "Traceback" not in output
