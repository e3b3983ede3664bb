"""Benchmark 5: the season-wise evaluation grid on 1 and 2 Dask workers.

Why: the grid (every model and MLP seed on every fold, at every forecast point) is what
`orchestration.task_runner = dask://...` spreads over a cluster. Here it runs on a local
Dask cluster of one-thread worker processes (torch held to one thread each, so the ratio
measures the cluster, not torch's own threads), first with one worker, then with two, on
the same cells; the speed-up is the ratio. Both must give the same predictions. From the
cells' own durations it also models how the grid would spread over more workers (longest
cells first onto the least-loaded worker), for machines this one cannot show.
"""

from __future__ import annotations

import os
import time
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


def run_cell(table: Any, cell: tuple, config: Any) -> tuple[Any, float]:
    """One grid cell, timed on the worker that runs it."""
    from yieldflow.ml.evaluation import evaluate_fold

    point, fold, model, seed = cell
    started = time.perf_counter()
    predictions = evaluate_fold(
        table, fold, config.training, config.baselines, [seed], models=(model,)
    )
    return predictions.assign(point=point), time.perf_counter() - started


def grid_on_workers(
    workers: int, tables: dict[float, Any], cells: list, config: Any
) -> tuple[float, list]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("yieldflow.ml.evaluation"))  # imports are not timed
        scattered = {p: client.scatter(t, broadcast=True) for p, t in tables.items()}
        started = time.perf_counter()
        futures = [client.submit(run_cell, scattered[c[0]], c, config, pure=False) for c in cells]
        results = client.gather(futures)
        return time.perf_counter() - started, results


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
    return {**measured, "checks": [check.as_dict()]}
