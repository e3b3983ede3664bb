"""The results table on the console and docs/benchmarks.md.

Why a generated page: figures go stale the moment someone edits the pipeline, so the page
is rewritten by every full run, with the machine it ran on. The hand-written analysis
(benchmarks/decisions.md) is pasted in verbatim, so rerunning never loses it.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, mib

DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
DECISIONS_PATH = Path(__file__).with_name("decisions.md")


def machine() -> dict[str, str]:
    """What the figures were taken on; a ratio from a 2-core box is not one from a server."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch device": "cuda" if torch.cuda.is_available() else "cpu",
        "os": platform.platform(),
        "git commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average at the end (1, 5, 15 min)": load,
    }


def git_commit() -> str:
    """HEAD of this checkout, or YIELDFLOW_COMMIT when set: a copy of the tree (a GPU
    machine's, a container's) may carry no .git, or a stale one, and says so there."""
    if os.environ.get("YIELDFLOW_COMMIT"):
        return os.environ["YIELDFLOW_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "yieldflow", "flows", "tasks"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + (" (pipeline code modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _headline(run_info: dict[str, float] | None) -> str:
    if not run_info:
        return "no run of all four benchmarks is stored yet."
    return (
        f"wall time of the last run of all four benchmarks: **{run_info['wall_s'] / 60:.1f} "
        f"min** (CPU time of the harness and its children: {run_info['cpu_s'] / 60:.1f} min; "
        f"1-minute load average {run_info['load_before']:.1f} at its start and "
        f"{run_info['load_after']:.1f} at its end, on {os.cpu_count()} cores: the machine is "
        "shared)."
    )


def _value(check: dict[str, Any]) -> str:
    value = check["value"]
    if not math.isfinite(value):
        return str(value)
    if "task runs" in check["metric"]:
        return f"{value:.0f}"
    return f"{value:.1e}" if "difference" in check["metric"] else f"{value:.2f}"


def checks_table(checks: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| benchmark | size | measured | value | target | met | detail |",
        "| --- | --- | --- | ---: | --- | --- | --- |",
    ]
    for c in checks:
        met = "yes" if c["met"] else "**NO**"
        lines.append(
            f"| {c['benchmark']} | {c['size']} | {c['metric']} | {_value(c)} | {c['target']} "
            f"| {met} | {c['detail']} |"
        )
    return lines


def console_table(checks: list[dict[str, Any]]) -> str:
    rows = [("benchmark", "size", "measured", "value", "target", "met")]
    rows += [
        (
            c["benchmark"],
            c["size"],
            c["metric"],
            _value(c),
            c["target"],
            "yes" if c["met"] else "NO",
        )
        for c in checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows
    )


def _features_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## 1. Feature engineering at scale",
        "",
        "yieldflow = `ingest_dataset(LocalSource(root))` + `build_season_features(...)` "
        "(validation, quarantine and row accounting included); DuckDB = one SQL query over "
        "the same CSV files (`read_csv` over `sensors/*/*.csv`, exact duplicates dropped, "
        "sentinels and out-of-range values nulled, the same daily and season aggregates, "
        "no per-value quarantine, no accounting, no conflicting-duplicate detection). Each "
        "side runs in a fresh child process; times are medians of the repeats, run "
        "alternately; the page cache is warmed first. Memory: peak RSS of the yieldflow "
        "child minus its RSS after imports, against `readings.memory_usage(deep=True)` of "
        "the ingested readings (typed: datetime + 7 floats + farm id). The two feature "
        "tables are compared on every run (max relative difference over all features).",
        "",
        "| size | rows | files | CSV | yieldflow s (ingest + features) | DuckDB s "
        "| ratio | yieldflow peak RSS (net) | readings in memory | DuckDB peak RSS "
        "| tables agree (max rel. diff) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in result["sizes"]:
        agree = m["agreement"]
        lines.append(
            f"| {m['size']} | {m['rows']:,} | {m['files']:,} | {mib(m['csv_bytes'])} "
            f"| {m['yieldflow_s']:.1f} ({m['yieldflow_ingest_s']:.1f} + "
            f"{m['yieldflow_features_s']:.1f}) | {m['duckdb_s']:.1f} "
            f"({m['duckdb_threads']} threads) | {m['yieldflow_s'] / m['duckdb_s']:.2f} "
            f"| {mib(m['yieldflow_peak_rss'])} ({mib(m['yieldflow_peak_net'])}) "
            f"| {mib(m['readings_bytes'])} | {mib(m['duckdb_peak_rss'])} "
            f"| {agree['harvests_in_both']}/{agree['harvests_yieldflow']} harvests, "
            f"{agree['max_relative_difference']:.1e} |"
        )
    lines.append("")
    lines.append(
        "Repeats per size: "
        + ", ".join(
            f"{m['size']} ×{m['repeats']} (yieldflow "
            + "/".join(f"{t:.1f}" for t in m["yieldflow_times"])
            + " s, DuckDB "
            + "/".join(f"{t:.1f}" for t in m["duckdb_times"])
            + " s)"
            for m in result["sizes"]
        )
        + "."
    )
    profiled = [m for m in result["sizes"] if m.get("profile")]
    for m in profiled:
        lines += [
            "",
            f"Where yieldflow's time goes at {m['size']} (cProfile, one extra run; shares of "
            "the profiled run's ingest + features time; cumulative time of yieldflow's own "
            "functions, then the library functions with the most self time):",
            "",
            "| function | calls | cumulative s | share |",
            "| --- | ---: | ---: | ---: |",
        ]
        for row in m["profile"]:
            if row["function"].startswith("~"):
                continue  # a builtin, listed by older runs among yieldflow's functions
            name = row["function"] + (" (self time)" if row.get("self_time") else "")
            lines.append(
                f"| `{name}` | {row['calls']:,} | {row['seconds']:.2f} | {row['share']:.0%} |"
            )
    return lines


def _features_20m_section(result: dict[str, Any]) -> list[str]:
    lines = _features_section(result)[3:]  # the same table, without the method paragraph
    return [
        "### 1b. 20M rows, with 5M beside it for the scaling ratio",
        "",
        f"Part of the full run ({result.get('seconds', 0) / 60:.1f} min on "
        f"{result.get('date', 'unknown')}; alone: `python -m benchmarks --only features-20m`). "
        "The 20M dataset (343 farms) was generated once, outside any timed budget "
        "(1.5-15 minutes, by machine), and is cached; `--skip-20m` leaves this point out.",
        *lines,
    ]


def _s3_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## 2. S3 ingestion (SeaweedFS on 127.0.0.1)",
        "",
        f"One dataset ({result['rows']:,} rows, {result.get('farms', 8)} farms at "
        f"{result.get('interval_minutes', 15)} minutes) uploaded twice: one "
        "object per farm and day ('small'), and one object per farm ('large'), with "
        "farms.csv and harvests.csv in both. yieldflow = `ingest_dataset(S3Source(uri))` (list, "
        "16-thread boto3 fetch, every contract check in DuckDB); DuckDB S3 = DuckDB reading "
        "the same sensor objects itself (httpfs, `read_csv('s3://.../sensors/*/*.csv')`) "
        "with the same typing, sentinel and range nulls and exact duplicates dropped, into "
        "sorted readings: the target is yieldflow at least as fast. Beside them: boto3 = list "
        "+ 16-thread `get_object().read()` of the same objects, nothing else; 'fetch only' = "
        "yieldflow's own `S3Source.list_files` + `read_files`, no parsing; 'bare parse' = "
        "the boto3 download with each object parsed on its own by Arrow's `read_csv` as it "
        "arrives, nothing checked or converted. Each in a fresh child process (client or "
        "connection created inside the timed part on every side).",
        "",
        "| layout | objects | MB | yieldflow ingest s | DuckDB S3 s | ratio "
        "| yieldflow fetch only s | boto3 s | yieldflow MB/s | boto3 MB/s "
        "| bare parse s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in result["layouts"]:
        floor = m.get("floor_s")  # results stored before the eleventh pass have none
        duck = m.get("duckdb_s")  # nor before issue 21 a DuckDB side
        lines.append(
            f"| {m['layout']} | {m['objects']:,} | {m['bytes'] / 1e6:.1f} "
            f"| {m['yieldflow_s']:.2f} "
            + (f"| {duck:.2f} | {duck / m['yieldflow_s']:.2f} " if duck else "| - | - ")
            + f"| {m['fetch_s']:.2f} | {m['reference_s']:.2f} "
            f"| {m['yieldflow_mb_s']:.1f} | {m['reference_mb_s']:.1f} "
            + (f"| {floor:.2f} |" if floor else "| - |")
        )
    return lines


def _training_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## 3. Training loop",
        "",
        "yieldflow = `train_mlp` with `TrainingConfig(max_epochs=N, patience=N)` (validation "
        "loss and early-stopping bookkeeping every epoch); reference = the same `YieldMLP` "
        "(20 inputs, hidden 32-16), Adam (lr 0.01, weight decay 0.01), MSE, the same data "
        "and batch size, a `randperm` shuffle per epoch, tensors prepared once, one host "
        "sync at the end. Validation set = rows / 4. Both sides in one child process per "
        "size, one warm-up each, then alternating repeats; epochs/s is the median over "
        "repeats of epochs / wall time of the whole call (setup included on both sides).",
        "",
        "| training rows | batch size | epochs per run | repeats | device | torch threads "
        "| yieldflow epochs/s | reference epochs/s | ratio |",
        "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for m in result["sizes"]:
        lines.append(
            f"| {m['rows']:,} | {m['batch_size']:,} | {m['epochs']} | {m['repeats']} "
            f"| {m['device']} | {m['torch_threads']} | {m['yieldflow_eps']:.2f} "
            f"| {m['reference_eps']:.2f} | {m['yieldflow_eps'] / m['reference_eps']:.2f} |"
        )
    return lines


def _training_gpu_section(result: dict[str, Any]) -> list[str]:
    gpu, host = result["gpu"], result["machine"]
    lines = [
        "## 3b. Training loop on a GPU",
        "",
        f"Measured on a lent machine, not the one above: {gpu['name']} ({gpu['memory_gib']} "
        f"GiB, {gpu['multiprocessors']} multiprocessors, CUDA {gpu['cuda']}), "
        f"{host['nproc']} CPU cores ({host['cpu']}), torch {host['torch']}, Python "
        f"{host['python']}. The loop and reference of section 3, both on the GPU (the "
        "reference shuffles on the GPU too); then yieldflow on the same machine's CPU, "
        "with the threads `train_mlp` chooses (as the pipeline trains) and with every "
        "core. Speed-up = GPU epochs/s / CPU epochs/s."
        + (f" These figures were {result['restored']}." if result.get("restored") else ""),
        "",
        "| training rows | batch size | GPU epochs per run | repeats | yieldflow GPU epochs/s "
        "| reference GPU epochs/s | ratio | CPU epochs/s (threads) | all cores epochs/s "
        "(threads) | speed-up over the CPU | over all cores |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in result["sizes"]:
        lines.append(
            f"| {m['rows']:,} | {m['batch_size']:,} | {m['epochs']} | {m['repeats']} "
            f"| {m['yieldflow_eps']:.2f} | {m['reference_eps']:.2f} "
            f"| {m['yieldflow_eps'] / m['reference_eps']:.2f} "
            f"| {m['cpu_eps']:.2f} ({m['cpu_threads']}) "
            f"| {m['cpu_all_eps']:.2f} ({m['cpu_all_threads']}) "
            f"| {m['yieldflow_eps'] / m['cpu_eps']:.2f}x "
            f"| {m['yieldflow_eps'] / m['cpu_all_eps']:.2f}x |"
        )
    return lines


def _orchestration_section(m: dict[str, Any]) -> list[str]:
    by_name = ", ".join(f"`{k}` ×{v}" for k, v in m["task_runs_by_name"].items())
    return [
        "## 4. Orchestration overhead",
        "",
        f"The seasonal pipeline on a generated dataset of {m['farms']} farms × 4 seasons "
        f"({m['rows']:,} hourly rows, {m['harvests']} harvests), default `PipelineConfig` "
        f"except training {m['training']} and baselines {m['baselines'] or 'default'}. "
        "Prefect side: `seasonal_pipeline(config)` against a local `prefect server start` "
        "(warmed by a one-task flow; the MLflow store is created beforehand), with "
        "`PREFECT_TASKS_REFRESH_CACHE=true` so the cached ingestion task recomputes and "
        "persists its result every run, as on new data (a cache hit would skip work the "
        "plain side does). Plain side: `seasonal_pipeline.fn(config)` with every task and "
        "flow called through `.fn`, run loggers disabled, Prefect artifacts skipped, "
        "`PREFECT_API_URL` pointing nowhere. Both log to the same MLflow sqlite store, each "
        "run in a fresh process (imports not timed), with `OMP_NUM_THREADS=1`.",
        "",
        "| as a Prefect flow s | as plain calls s | overhead s | repeats | task runs "
        "(flow + subflow) | subflow runs |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {m['prefect_s']:.1f} ({'/'.join(f'{t:.1f}' for t in m['prefect_times'])}) "
        f"| {m['plain_s']:.1f} ({'/'.join(f'{t:.1f}' for t in m['plain_times'])}) "
        f"| {m['overhead_s']:.1f} | {m['repeats']} | {m['task_runs']} | {m['subflow_runs']} |",
        "",
        f"Task runs of one flow run, by task function: {by_name}. None is per farm or per epoch.",
        *_heartbeat_lines(m),
    ]


def _heartbeat_lines(m: dict[str, Any]) -> list[str]:
    if "heartbeat_s" not in m:
        return []
    times = "/".join(f"{t:.1f}" for t in m["no_heartbeats_times"])
    return [
        "",
        f"With flow-run heartbeats off the same flow took {m['no_heartbeats_s']:.1f} s "
        f"({times}): {m['heartbeat_s']:.1f} s of the overhead is Prefect 3.8's heartbeat "
        "thread, which sleeps in one-second steps and is joined when each of the "
        f"{1 + m['subflow_runs']} flow runs ends. Heartbeats stay on (the zombie-run "
        "automation needs them); upstream, the loop should wait on its stop event.",
    ]


def _cluster_section(m: dict[str, Any]) -> list[str]:
    efficiency = ", ".join(
        f"{k} workers {100 * v:.0f}%" for k, v in m["modelled_efficiency"].items() if k != "1"
    )
    return [
        "## 5. The evaluation grid on a Dask cluster",
        "",
        f"The season-wise evaluation grid of a generated dataset of {m['farms']} farms × "
        f"{m['seasons']} seasons ({m['harvests']} harvests): {m['cells']} cells (every model "
        "and MLP seed on every fold at harvest, the simple models at 50% and 75% of the "
        "season), on a local Dask cluster of one-thread worker processes "
        "(`OMP_NUM_THREADS=1`, torch on one thread), the feature tables scattered first and "
        "imports warmed; the same cells on 1 worker, then on 2.",
        "",
        "| 1 worker s | 2 workers s | speed-up | identical predictions | cells' own time s "
        "| longest cell s |",
        "| ---: | ---: | ---: | --- | ---: | ---: |",
        f"| {m['one_worker_s']:.1f} | {m['two_workers_s']:.1f} | {m['speedup']:.2f}x "
        f"| {m['same_predictions']} | {m['cell_seconds_total']:.1f} "
        f"| {m['cell_seconds_max']:.1f} |",
        "",
        "No machine with more cores was lent for this run. Modelled from the cells' measured "
        "durations (longest first onto the least-loaded worker, no scheduling cost): "
        f"{efficiency} parallel efficiency. The longest cell (an MLP fit on the most "
        "seasons) bounds the grid's time; more folds or seeds add cells, not length.",
    ]


def write_doc(results: dict[str, Any], size: str, path: Path = DOC_PATH) -> None:
    """Rewrite docs/benchmarks.md from the stored results (each benchmark's latest)."""
    results = dict(results)
    run_info = results.pop("_run", None)
    checks = [c for r in results.values() for c in r["checks"]]
    missed = [c for c in checks if not c["met"]]
    lines = [
        "# Benchmarks: yieldflow against references",
        "",
        "Generated by `python -m benchmarks"
        + ("" if size == "full" else f" --size {size}")
        + "` (install the reference with `pip install -e '.[bench]'`); do not edit by "
        "hand except `benchmarks/decisions.md`, which is pasted in below. Every figure is "
        "a median of repeats, measured in the same run as its reference, and reported as "
        "a ratio; the machine is shared, so absolute seconds vary between runs more than "
        "the ratios do.",
        "",
        f"Size: **{size}**; {_headline(run_info)} "
        f"Targets met: **{len(checks) - len(missed)} of {len(checks)}**.",
        "",
        "| benchmark | measured on | at commit | minutes |",
        "| --- | --- | --- | ---: |",
        *(
            f"| {k} | {r.get('date', 'unknown')} | {r.get('commit', 'unknown')} "
            f"| {r.get('seconds', 0) / 60:.1f} |"
            for k, r in results.items()
        ),
        "",
        "Each benchmark's latest result is kept until it is measured again (`--only`), so "
        "the dates can differ. `features-20m` (the 20M point, with 5M again beside it for "
        "the scaling ratio) is part of the default run; `--skip-20m` leaves it out.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in ((run_info or {}).get("machine") or machine()).items()),
        "",
        "## Results against targets",
        "",
        *checks_table(checks),
        "",
    ]
    sections = {
        "features": _features_section,
        "features-20m": _features_20m_section,
        "s3": _s3_section,
        "training": _training_section,
        "training-gpu": _training_gpu_section,
        "orchestration": _orchestration_section,
        "cluster": _cluster_section,
    }
    for name, render in sections.items():
        if name in results and "error" in results[name]:
            lines += [f"## {name}", "", f"Failed: {results[name]['error']}", ""]
        elif name in results:
            lines += [*render(results[name]), ""]
    if DECISIONS_PATH.is_file():
        lines += [DECISIONS_PATH.read_text().strip(), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
