"""Prefect tasks: backtest forecasts at points of the season, and fit the champion that
forecasts from every harvested season."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import PipelineConfig
from yieldflow.ml.backtest import PointResult, backtest_at_points, point_label, tables_at_points
from yieldflow.ml.forecaster import SeasonForecaster, fit_forecaster
from yieldflow.tasks.training import (
    ON_DEVICE,
)


@task(
    name="features-at-forecast-points",
    task_run_name="features-at-forecast-points",
    cache_policy=NO_CACHE,
)
def features_at_points(
    table: pd.DataFrame,
    readings: pd.DataFrame,
    harvests: pd.DataFrame,
    farms: pd.DataFrame,
    points: list[float],
) -> dict[float, pd.DataFrame]:
    return tables_at_points(table, readings, harvests, farms, points)


@task(
    name="backtest-forecast-points", task_run_name="backtest-forecast-points", cache_policy=NO_CACHE
)
def backtest_points(
    predictions: dict[float, pd.DataFrame], recommended: str, config: PipelineConfig
) -> dict[float, PointResult]:
    """Forecasts at each point of the season, backtested (see yieldflow.ml.backtest)."""
    logger = get_run_logger()
    results = backtest_at_points(predictions, recommended, config)
    for point, result in results.items():
        logger.info("At %s: %s; %s", point_label(point), result.reason, result.coverage.sentence())
    return results


@task(
    name="fit-champion",
    task_run_name="fit-champion-on-every-season",
    **ON_DEVICE,
)
def fit_champion(
    tables: dict[float, pd.DataFrame], results: dict[float, PointResult], config: PipelineConfig
) -> SeasonForecaster:
    """The chosen model of each point, refitted on every harvested season cut there."""
    forecaster = fit_forecaster(
        tables,
        {p: (r.chosen, r.interval, r.reason) for p, r in results.items()},
        config.training,
        config.baselines,
        config.seed,
    )
    get_run_logger().info(
        "Champion fitted on every harvested season (%s): %s",
        ", ".join(map(str, forecaster.seasons)),
        "; ".join(f"{point_label(p)}: {m.model.kind}" for p, m in forecaster.points.items()),
    )
    return forecaster
