"""Benchmark 5: the season-wise evaluation grid on 1 and 2 Dask workers.

Why: the grid (every model and MLP seed on every fold, at every forecast point) is what
`orchestration.task_runner = dask://...` spreads over a cluster. Here it runs on a local
Dask cluster of one-thread worker processes (torch held to one thread each, so the ratio
measures the cluster, not torch's own threads), first with one worker, then with two, on
the same cells; the speed-up is the ratio. Both must give the same predictions. From the
cells' own durations it also models how the grid would spread over more workers (longest
cells first onto the least-loaded worker), for machines this one cannot show.

Beside it, ingestion + season features by batch of farms (yieldflow.features.farm_batches, what
the seasonal run does on a Dask runner) at 5M rows on 1 and 2 one-thread workers, DuckDB
held to one thread per worker (YIELDFLOW_DUCKDB_THREADS=1). Timed whole: the plan
(listing, farms.csv, harvests.csv) and the merge (Parquet read back, concatenated) run in
the client, serially, as they do in the flow; the parts are reported too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.common import DatasetSpec, at_least, cached_dataset, log

SPEEDUP_TARGET = 1.6  # 2 workers on 2 cores
SIZES = {
    "full": DatasetSpec(farms=12, seasons=20, interval_minutes=60, seed=42, first_season=2005),
    "smoke": DatasetSpec(farms=4, seasons=5, interval_minutes=60, seed=42),
}
CONFIG = {
    "full": {},
    "smoke": {"training": {"max_epochs": 5, "patience": 5}, "evaluation": {"mlp_seeds": 1}},
}
MODELLED_WORKERS = (1, 2, 4, 8, 16)
INGEST_SIZES = {
    "full": DatasetSpec(farms=86),  # 5M rows, the features benchmark's 5M dataset
    "smoke": DatasetSpec(farms=2, interval_minutes=60),
}
INGEST_BATCHES = 8  # orchestration.ingest_batches' default
MIN_COVERAGE = 0.7


def run_cell(table: Any, cell: tuple, config: Any) -> tuple[Any, float]:
    """One grid cell, timed on the worker that runs it."""
    from yieldflow.ml.evaluation import evaluate_fold

    point, fold, model, seed = cell
    started = time.perf_counter()
    predictions = evaluate_fold(
        table, fold, config.training, config.baselines, [seed], models=(model,)
    )
    return predictions.assign(point=point), time.perf_counter() - started


@contextlib.contextmanager
def local_client(workers: int, module: str) -> Iterator[Any]:
    """A client of a local cluster of one-thread worker processes that have imported
    `module` already (imports are not timed)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__(module))
        yield client


def grid_on_workers(
    workers: int, tables: dict[float, Any], cells: list, config: Any
) -> tuple[float, list]:
    with local_client(workers, "yieldflow.ml.evaluation") as client:
        scattered = {p: client.scatter(t, broadcast=True) for p, t in tables.items()}
        started = time.perf_counter()
        futures = [client.submit(run_cell, scattered[c[0]], c, config, pure=False) for c in cells]
        results = client.gather(futures)
        return time.perf_counter() - started, results


def ingest_batch_on_worker(data_uri: str, batch: Any, plan: dict, base: str) -> Any:
    """One batch on a worker, as tasks/ingest_batches.py runs it: DuckDB, features,
    Parquet out; returns the batch's record (URIs and counts)."""
    from yieldflow.features.farm_batches import ingest_batch, write_batch
    from yieldflow.io.storage import open_source

    result = ingest_batch(open_source(data_uri), batch, **plan, min_coverage=MIN_COVERAGE)
    return write_batch(result, batch.number, base)


def ingestion_on_workers(workers: int, root: Any, out: Any) -> dict[str, Any]:
    """Plan here, every batch on the workers, merge here; seconds of each part."""
    from yieldflow.features.farm_batches import merge_batches, plan_ingestion, read_batch
    from yieldflow.io.storage import open_source

    with local_client(workers, "yieldflow.features.farm_batches") as client:
        started = time.perf_counter()
        plan = plan_ingestion(open_source(root), INGEST_BATCHES)
        planned = time.perf_counter()
        futures = [
            client.submit(
                ingest_batch_on_worker,
                str(root),
                batch,
                {
                    "plan_timezones": plan.timezones,
                    "now": plan.now,
                    "harvests": plan.harvests_of(batch),
                    "farms": plan.farms,
                },
                str(out),
                pure=False,
            )
            for batch in plan.batches
        ]
        records = client.gather(futures)
        batched = time.perf_counter()
        ingested, features = merge_batches(plan, [read_batch(r) for r in records], MIN_COVERAGE)
        done = time.perf_counter()
    return {
        "seconds": done - started,
        "plan_s": planned - started,
        "batches_s": batched - planned,
        "merge_s": done - batched,
        "batches": len(plan.batches),
        "ingested": ingested,
        "features": features,
    }


def ingestion_speedup(size: str) -> tuple[dict[str, Any], Any]:
    """5M rows (smoke: 30k) ingested + featured by farm batches on 1, then 2 workers."""
    import tempfile

    from benchmarks.common import warm_page_cache

    dataset = cached_dataset(INGEST_SIZES[size])
    warm_page_cache(dataset.root)
    previous = os.environ.get("YIELDFLOW_DUCKDB_THREADS")
    os.environ["YIELDFLOW_DUCKDB_THREADS"] = "1"  # inherited by the worker processes
    runs = {}
    try:
        for workers in (1, 2):
            with tempfile.TemporaryDirectory(prefix="yieldflow-bench-batches-") as out:
                runs[workers] = ingestion_on_workers(workers, dataset.root, out)
            log(f"cluster ingestion: {workers} worker(s) {runs[workers]['seconds']:.1f} s")
    finally:
        if previous is None:
            os.environ.pop("YIELDFLOW_DUCKDB_THREADS", None)
        else:
            os.environ["YIELDFLOW_DUCKDB_THREADS"] = previous
    same = runs[1]["features"].table.equals(runs[2]["features"].table) and (
        runs[1]["ingested"].accounting == runs[2]["ingested"].accounting
    )
    speedup = runs[1]["seconds"] / runs[2]["seconds"]
    rows = runs[1]["ingested"].accounting.rows_read
    measured = {
        "rows": rows,
        "farms": dataset.spec.farms,
        "batches": runs[1]["batches"],
        "same_features": bool(same),
        "speedup": speedup,
        **{
            f"{'one' if w == 1 else 'two'}_worker{'s' if w == 2 else ''}_{part}": runs[w][part]
            for w in (1, 2)
            for part in ("seconds", "plan_s", "batches_s", "merge_s")
        },
    }
    check = at_least(
        "cluster",
        f"{rows:,} rows, {runs[1]['batches']} farm batches",
        "ingestion + features speed-up, 2 Dask workers vs 1",
        speedup if same else float("nan"),
        SPEEDUP_TARGET,
        f"{runs[1]['seconds']:.1f} s on 1 worker, {runs[2]['seconds']:.1f} s on 2 (batches "
        f"{runs[1]['batches_s']:.1f} / {runs[2]['batches_s']:.1f} s, merge "
        f"{runs[2]['merge_s']:.1f} s); features identical: {same}",
    )
    return measured, check


def modelled_seconds(durations: list[float], workers: int) -> float:
    """Makespan of the cells on `workers` workers, longest first onto the least loaded."""
    loads = [0.0] * workers
    for seconds in sorted(durations, reverse=True):
        lightest = min(range(workers), key=loads.__getitem__)
        loads[lightest] += seconds
    return max(loads)


def run(size: str) -> dict[str, Any]:
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the worker processes
    import pandas as pd

    from yieldflow.config import PipelineConfig
    from yieldflow.features.seasons import build_season_features
    from yieldflow.ingest.dataset import ingest_dataset
    from yieldflow.io.storage import open_source
    from yieldflow.ml.backtest import tables_at_points
    from yieldflow.ml.evaluation import evaluation_cells

    dataset = cached_dataset(SIZES[size])
    config = PipelineConfig.model_validate(
        {**CONFIG[size], "training": {**CONFIG[size].get("training", {}), "cpu_threads": 1}}
    )
    ingested = ingest_dataset(open_source(dataset.root))
    table = build_season_features(ingested.readings, ingested.harvests, ingested.farms, 0.7).table
    tables = tables_at_points(
        table, ingested.readings, ingested.harvests, ingested.farms,
        config.evaluation.forecast_points,
    )  # fmt: skip
    # The slowest cells (the MLP's) first, so no worker is left with one at the end.
    cells = sorted(evaluation_cells(tables, config), key=lambda c: c[2] != "mlp")
    log(f"cluster: {len(cells)} cells over {len(table)} harvests")
    timings, outputs = {}, {}
    for workers in (1, 2):
        timings[workers], outputs[workers] = grid_on_workers(workers, tables, cells, config)
        log(f"cluster: {workers} worker(s) {timings[workers]:.1f} s")
    frames = {w: pd.concat([p for p, _ in outputs[w]], ignore_index=True) for w in outputs}
    same = frames[1].equals(frames[2])
    durations = [s for _, s in outputs[1]]
    modelled = {k: modelled_seconds(durations, k) for k in MODELLED_WORKERS}
    speedup = timings[1] / timings[2]
    measured = {
        "farms": dataset.spec.farms,
        "seasons": dataset.spec.seasons,
        "harvests": len(table),
        "cells": len(cells),
        "cell_seconds_total": sum(durations),
        "cell_seconds_max": max(durations),
        "one_worker_s": timings[1],
        "two_workers_s": timings[2],
        "speedup": speedup,
        "same_predictions": same,
        "modelled_efficiency": {str(k): modelled[1] / (k * modelled[k]) for k in MODELLED_WORKERS},
    }
    check = at_least(
        "cluster",
        f"{len(cells)} cells, {len(table)} harvests",
        "evaluation grid speed-up, 2 Dask workers vs 1",
        speedup if same else float("nan"),
        SPEEDUP_TARGET,
        f"{timings[1]:.1f} s on 1 worker, {timings[2]:.1f} s on 2; predictions identical: {same}",
    )
    ingestion, ingestion_check = ingestion_speedup(size)
    return {
        **measured,
        "ingestion": ingestion,
        "checks": [check.as_dict(), ingestion_check.as_dict()],
    }
