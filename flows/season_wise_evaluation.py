"""The season-wise evaluation grid: every model (and MLP seed) on every fold, at every
forecast point. On a Dask cluster each cell is its own task run (the parallelism); on the
local runner a fold's cells share one. ``orchestration.task_runner`` picks the runner when
the run starts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
from prefect import flow, get_run_logger

from yieldflow.config import PipelineConfig
from yieldflow.flows.task_runners import dask_address, task_runner_for
from yieldflow.ml.evaluation import (
    CrossValidation,
    Fold,
    evaluation_cells,
    mlp_seeds,
    rolling_origin_folds,
)
from yieldflow.reporting.progress import track
from yieldflow.tasks.evaluation import evaluate_models_on_fold, summarise_cross_validation

Cell = tuple[float, Fold, str, int]  # forecast point, fold, model, MLP seed


@dataclass
class SeasonWiseEvaluation:
    cv: CrossValidation | None  # at harvest, every model; None without a fold
    predictions: dict[float, pd.DataFrame]  # out-of-fold predictions per forecast point


def task_groups(
    cells: list[Cell], one_per_cell: bool
) -> list[tuple[float, Fold, list[tuple[str, int]]]]:
    """The grid's task runs: one per cell on a cluster (the parallelism), else one per fold
    and forecast point (one at a time anyway, so fewer runs cost less Prefect time)."""
    if one_per_cell:
        return [(point, fold, [(model, seed)]) for point, fold, model, seed in cells]
    groups: dict[tuple[float, int], tuple[float, Fold, list[tuple[str, int]]]] = {}
    for point, fold, model, seed in cells:
        groups.setdefault((point, fold.val), (point, fold, []))[2].append((model, seed))
    return list(groups.values())


@flow(name="season-wise-evaluation", flow_run_name="season-wise-evaluation")
def season_wise_evaluation(
    tables: dict[float, pd.DataFrame], config: PipelineConfig
) -> SeasonWiseEvaluation:
    """Submit the whole grid at once (a cluster runs it in parallel), then gather."""
    started = time.perf_counter()
    cells = evaluation_cells(tables, config)
    one_per_cell = dask_address(config.orchestration.task_runner) is not None
    futures = [
        evaluate_models_on_fold.submit(
            tables[point], fold, group, config.training, config.baselines, point
        )
        for point, fold, group in task_groups(cells, one_per_cell)
    ]
    results: list[pd.DataFrame] = []
    with track("cross-validation", len(futures), "fold evaluations") as progress:
        for number, future in enumerate(futures, start=1):
            results.append(future.result())
            progress.update(number)
    predictions = (
        {
            point: pd.concat([r for r in results if r["point"].iat[0] == point], ignore_index=True)
            for point in sorted({c[0] for c in cells})
        }
        if results
        else {}
    )
    folds = rolling_origin_folds(tables[1.0]["season"], config.split.min_train_seasons)
    cv = (
        summarise_cross_validation(
            folds,
            predictions[1.0].drop(columns="point"),
            mlp_seeds(config),
            time.perf_counter() - started,
        )
        if 1.0 in predictions
        else None
    )
    if cv is None:
        get_run_logger().warning("Too few seasons for season-wise cross-validation")
    return SeasonWiseEvaluation(cv=cv, predictions=predictions)


def evaluate_by_season(
    tables: dict[float, pd.DataFrame], config: PipelineConfig
) -> SeasonWiseEvaluation:
    """Run the grid with the configured task runner (local, or a Dask cluster)."""
    runner = task_runner_for(config.orchestration.task_runner)
    return season_wise_evaluation.with_options(task_runner=runner)(tables, config)
