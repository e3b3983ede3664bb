"""The benchmark harness at its smoke size: every benchmark runs end to end and yields a
finite ratio. Targets and wall times are deliberately not asserted: a shared 2-core CI
machine says nothing about them; `python -m benchmarks` (full size) does, in
docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

import pytest

BENCHMARKS = ("features", "features-20m", "s3", "training", "orchestration", "cluster")


@pytest.fixture
def reference_installed() -> None:
    if importlib.util.find_spec("duckdb") is None:
        message = "duckdb not installed: pip install -e '.[bench]'"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must install it: a skip there would hide the harness
        pytest.skip(message)


def test_smoke_benchmarks_produce_finite_ratios(
    reference_installed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.__main__ import main

    monkeypatch.setenv("YIELDFLOW_BENCH_CACHE", str(tmp_path / "cache"))
    doc, raw = tmp_path / "benchmarks.md", tmp_path / "results.json"

    assert main(["--size", "smoke", "--doc", str(doc), "--json", str(raw)]) == 0

    results = json.loads(raw.read_text())
    assert sorted(results) == sorted(BENCHMARKS)
    for name in BENCHMARKS:
        checks = results[name]["checks"]
        assert checks, f"{name} produced no ratio"
        for check in checks:
            assert math.isfinite(check["value"]), check
    # The DuckDB reference must compute the same features, or its ratio means nothing.
    for size in results["features"]["sizes"]:
        assert size["agreement"]["harvests_in_both"] == size["agreement"]["harvests_yieldflow"]
        assert size["agreement"]["max_relative_difference"] < 1e-6
    # The bare-parse floor beside S3 ingestion ran on both layouts.
    assert all(math.isfinite(m["floor_s"]) for m in results["s3"]["layouts"])
    # One flow run must not fan out into a task run per farm or per epoch; the evaluation
    # grid is one task run per fold, model and MLP seed, by design.
    orchestration = results["orchestration"]
    assert 0 < orchestration["task_runs"] - orchestration["grid_task_runs"] <= 25
    assert orchestration["grid_task_runs"] > 0
    # The grid on 1 and 2 Dask workers gives the same predictions.
    assert results["cluster"]["same_predictions"] is True
    text = doc.read_text()
    assert "## Results against targets" in text and "nproc" in text


def test_the_committed_page_is_what_its_committed_results_render(tmp_path: Path) -> None:
    """docs/benchmarks.md is generated from docs/benchmarks.json and benchmarks/decisions.md:
    a page edited by hand, or decisions edited without `--render`, fails here. Rendering
    needs no cache, so any clone can re-render the page with every section (3b included)."""
    from benchmarks.__main__ import main

    docs = Path(__file__).resolve().parents[2] / "docs"
    (tmp_path / "benchmarks.json").write_text((docs / "benchmarks.json").read_text())

    assert main(["--render", "--doc", str(tmp_path / "benchmarks.md")]) == 0

    rendered = (tmp_path / "benchmarks.md").read_text()
    assert "## 3b. Training loop on a GPU" in rendered
    assert rendered == (docs / "benchmarks.md").read_text(), (
        "docs/benchmarks.md differs from what its results render: "
        "python -m benchmarks --render --doc docs/benchmarks.md"
    )
