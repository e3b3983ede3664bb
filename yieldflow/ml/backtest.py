"""How good is a forecast made at a given point of the season? The pipeline's own backtest.

At each forecast point (50%, 75%, 100% of the growing window by default) every season's
features are cut at that point, the models are evaluated on the rolling-origin folds, and
the model a forecast at that point would use is chosen: the recommended model, unless it
does not beat the better of the crop mean and the farm×crop mean there, in which case the
mean is used and the report says so. Its interval is calibrated on the out-of-fold
residuals, and its coverage measured season by season on the last folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from yieldflow.config import PipelineConfig
from yieldflow.features.seasons import KEY, build_season_features, windows_at
from yieldflow.ml.evaluation import fold_scores, per_fold
from yieldflow.ml.intervals import (
    ConformalInterval,
    Coverage,
    backtest_coverage,
    calibrate,
    recent_residuals,
)
from yieldflow.ml.metrics import all_metrics
from yieldflow.ml.recipes import FALLBACK, MLP, REFERENCE

MEANS = (FALLBACK, REFERENCE)


def point_label(point: float) -> str:
    return "harvest" if point >= 1.0 else f"{point:.0%} of the season"


@dataclass
class PointResult:
    point: float
    chosen: str  # the model a forecast at this point uses
    reason: str
    interval: ConformalInterval
    coverage: Coverage
    errors: pd.DataFrame  # per model over the backtest seasons: rmse, nrmse, mape, ...

    def error_of(self, model: str, metric: str = "nrmse") -> float:
        return float(self.errors.loc[model, metric])

    def as_dict(self) -> dict[str, Any]:
        return {
            "point": self.point,
            "model": self.chosen,
            "reason": self.reason,
            "interval": self.interval.as_dict(),
            **self.coverage.as_dict(),
            "errors": {
                str(m): {k: float(v) for k, v in row.items()} for m, row in self.errors.iterrows()
            },
        }


def tables_at_points(
    table: pd.DataFrame,
    readings: pd.DataFrame,
    harvests: pd.DataFrame,
    farms: pd.DataFrame,
    points: list[float],
) -> dict[float, pd.DataFrame]:
    """The feature table of the same harvests, each season cut at every point."""
    tables = {1.0: table}
    for point in (p for p in points if p < 1.0):
        cut = build_season_features(readings, windows_at(harvests, point), farms, 0.0).table
        tables[point] = cut.merge(table[KEY], on=KEY).sort_values(KEY).reset_index(drop=True)
    return tables


def one_prediction_per_harvest(predictions: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The rows of the recipe that gets registered: the MLP with the run's seed only."""
    keep = (predictions["model"] != MLP) | (predictions["seed"] == seed)
    return predictions[keep]


def pooled_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model, every metric over all the given harvests pooled."""
    return pd.DataFrame(
        {
            model: all_metrics(g["crop"].to_numpy(), g["y_true"].to_numpy(), g["y_pred"].to_numpy())
            for model, g in predictions.groupby("model")
        }
    ).T


def backtest_seasons(folds: list[int], count: int) -> list[int]:
    """The last ``count`` fold seasons that have an earlier fold to calibrate on."""
    return sorted(folds)[1:][-count:] if count > 0 else []


def choose_at_point(
    point: float,
    predictions: pd.DataFrame,
    preferred: str,
    seed: int,
    backtest_count: int,
    calibration_window: int | None = None,
) -> PointResult:
    """The model, interval and measured coverage of forecasts made at ``point``.

    ``predictions``: out-of-fold predictions of every model at this point (evaluation's
    format). ``preferred``: the model the comparison recommends at this point.
    """
    rows = one_prediction_per_harvest(predictions, seed)
    seasons = backtest_seasons(sorted(rows["season"].unique()), backtest_count)
    held_out = rows[rows["season"].isin(seasons)]
    # Judged on the backtest seasons (the latest, most like next season's data), or on
    # every fold when there is no season to backtest yet.
    errors = pooled_errors(held_out if len(held_out) else rows)
    means = [m for m in MEANS if m in errors.index]
    best_mean = min(means, key=lambda m: errors.loc[m, "nrmse"]) if means else preferred
    chosen, reason = preferred, f"{preferred}: recommended by the season-wise comparison"
    if preferred not in MEANS and errors.loc[preferred, "nrmse"] >= errors.loc[best_mean, "nrmse"]:
        chosen = best_mean
        reason = (
            f"{best_mean}: no model beat it at {point_label(point)} in the backtest "
            f"({preferred} NRMSE {errors.loc[preferred, 'nrmse']:.1%} against "
            f"{errors.loc[best_mean, 'nrmse']:.1%}), so the forecast uses the mean"
        )
    mine = rows[rows["model"] == chosen]
    return PointResult(
        point=point,
        chosen=chosen,
        reason=reason,
        interval=calibrate(recent_residuals(mine, window=calibration_window)),
        coverage=backtest_coverage(mine, seasons, window=calibration_window),
        errors=errors,
    )


def best_simple(predictions: pd.DataFrame) -> str:
    """The simple model with the lowest mean fold NRMSE (where no MLP is evaluated)."""
    table = per_fold(fold_scores(predictions[predictions["model"] != MLP]))
    return str(table.mean(axis=1).idxmin())


def health(result: PointResult) -> dict[str, Any]:
    """The summary's "backtest" section: coverage and error against the simple means."""
    means = [m for m in MEANS if m in result.errors.index]
    simple = min(means, key=result.error_of) if means else None
    champion_nrmse = result.error_of(result.chosen)
    simple_nrmse = result.error_of(simple) if simple else None
    return {
        **result.coverage.as_dict(),
        "model": result.chosen,
        "champion_rmse": result.error_of(result.chosen, "rmse"),
        "champion_nrmse": champion_nrmse,
        "best_simple_model": simple,
        "best_simple_rmse": result.error_of(simple, "rmse") if simple else None,
        "best_simple_nrmse": simple_nrmse,
        "relative_error_vs_simple": champion_nrmse / simple_nrmse - 1 if simple_nrmse else None,
    }


def backtest_at_points(
    predictions: dict[float, pd.DataFrame], recommended: str, config: PipelineConfig
) -> dict[float, PointResult]:
    """Each point's model, interval and coverage from its out-of-fold ``predictions``: at
    harvest the comparison's recommendation, earlier the best simple model there."""
    count, window = config.evaluation.backtest_seasons, config.evaluation.calibration_seasons
    return {
        point: choose_at_point(
            point,
            rows,
            recommended if point >= 1.0 else best_simple(rows),
            config.seed,
            count,
            window,
        )
        for point, rows in sorted(predictions.items())
    }
