"""Bad input through the real command and at full size: every stop case run by `yieldflow
run` against one Prefect server started for this module (one `error:` line naming the file
and the problem, no traceback), and a ~2-million-row file ingested in a fresh interpreter
with its peak memory measured."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.bad_inputs.cases import STOP_CASES, StopCase
from tests.support.bad_inputs.corpus import Corpus
from tests.support.bad_inputs.dataset import copy_dataset
from tests.support.bad_inputs.huge import run_memory_probe, write_huge_dataset
from tests.support.servers import free_port, prefect_server

BIN = Path(sys.executable).parent
HUGE_ROWS = 2_000_000
# DuckDB streams the checked rows into the readings' arrays: the peak grows with the typed
# rows, well under a file parsed whole.
HUGE_GROWTH_OF_FILE = 4.5
# What the second half of the rows adds, per byte: typed rows, not the rows' strings.
HUGE_GROWTH_OF_ADDED_BYTES = 3.5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("bad-inputs-bases"))


# --- a huge file ---------------------------------------------------------------------------


def huge_growth(root: Path, rows: int) -> tuple[float, float, dict]:
    """Write `rows` minute readings in one file and ingest them in a fresh interpreter:
    (file MB, peak RSS growth MB, the probe's report)."""
    path = write_huge_dataset(root, rows)
    report = run_memory_probe("tests.support.bad_inputs.huge", str(root))
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
    server = prefect_server(port, logs, env, startup_timeout=180)
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
