"""Forecast intervals that hold their coverage: split-conformal on scale-free residuals.

A residual is log(truth / prediction), so one set of residuals serves every crop (a 10%
miss is a 10% miss on soybean and on potato). The interval for a new prediction p is
[p·exp(q_low), p·exp(q_high)], with q the conformal order statistics of out-of-fold
residuals of the same model recipe. Coverage is then measured, not assumed: each held-out
season is covered by an interval calibrated only on the seasons before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

NOMINAL = 0.8


def log_residuals(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    floor = 1e-6
    return np.log(np.maximum(np.asarray(y_true, float), floor)) - np.log(
        np.maximum(np.asarray(y_pred, float), floor)
    )


@dataclass(frozen=True)
class ConformalInterval:
    low_ratio: float  # truth / prediction at the low end
    high_ratio: float
    residuals: int  # how many out-of-fold residuals calibrated it
    level: float = NOMINAL

    @property
    def guaranteed(self) -> bool:
        """Enough residuals for split-conformal's finite-sample guarantee at each end."""
        return math.ceil((self.residuals + 1) * (1 + self.level) / 2 - 1e-9) <= self.residuals

    def apply(self, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        predicted = np.asarray(predicted, dtype=float)
        return predicted * self.low_ratio, predicted * self.high_ratio

    def as_dict(self) -> dict[str, float | int | bool]:
        return {
            "level": self.level,
            "low_ratio": self.low_ratio,
            "high_ratio": self.high_ratio,
            "residuals": self.residuals,
            "guaranteed": self.guaranteed,
        }


def calibrate(residuals: np.ndarray, level: float = NOMINAL) -> ConformalInterval:
    """The split-conformal interval: the ⌊(n+1)α/2⌋-th and ⌈(n+1)(1−α/2)⌉-th smallest
    residuals (clipped to the sample when n is too small for the guarantee)."""
    r = np.sort(np.asarray(residuals, dtype=float))
    n = len(r)
    if n == 0:
        raise ValueError("no out-of-fold residuals to calibrate an interval on")
    alpha = 1 - level
    eps = 1e-9  # 1 − 0.8 is 0.19999999999999996 in floating point
    low_rank = max(1, math.floor((n + 1) * alpha / 2 + eps))
    high_rank = min(n, math.ceil((n + 1) * (1 - alpha / 2) - eps))
    return ConformalInterval(
        float(np.exp(r[low_rank - 1])), float(np.exp(r[high_rank - 1])), n, level
    )


@dataclass(frozen=True)
class Coverage:
    covered: int
    harvests: int
    seasons: list[int]
    per_season: dict[int, tuple[int, int]]  # season → (covered, harvests)
    level: float = NOMINAL

    @property
    def fraction(self) -> float:
        return self.covered / self.harvests if self.harvests else float("nan")

    def sentence(self) -> str:
        if not self.harvests:
            return (
                f"{self.level:.0%} intervals: coverage not measured (a backtest season needs "
                "an earlier fold to calibrate on)."
            )
        seasons = ", ".join(map(str, self.seasons))
        return (
            f"{self.level:.0%} intervals covered {self.covered} of {self.harvests} held-out "
            f"harvests ({self.fraction:.0%}) in seasons {seasons}, each calibrated only on "
            "the seasons before it."
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "nominal": self.level,
            "interval_coverage": None if not self.harvests else self.fraction,
            "covered": self.covered,
            "harvests": self.harvests,
            "seasons": self.seasons,
            "per_season": {
                str(s): {"covered": c, "harvests": n} for s, (c, n) in self.per_season.items()
            },
        }


def recent_residuals(
    predictions: pd.DataFrame, before: int | None = None, window: int | None = None
) -> np.ndarray:
    """Out-of-fold residuals of the ``window`` latest fold seasons (before ``before``).

    Errors shrink as models learn from more seasons, so residuals of the first folds (2-3
    training seasons) would widen the interval of a model trained on many more."""
    seasons = sorted(predictions["season"].unique())
    if before is not None:
        seasons = [s for s in seasons if s < before]
    if window is not None:
        seasons = seasons[-window:]
    rows = predictions[predictions["season"].isin(seasons)]
    return log_residuals(rows["y_true"].to_numpy(), rows["y_pred"].to_numpy())


def backtest_coverage(
    predictions: pd.DataFrame,
    seasons: list[int],
    level: float = NOMINAL,
    window: int | None = None,
) -> Coverage:
    """For each season S in ``seasons``: calibrate on the out-of-fold residuals of (the
    ``window`` latest) seasons before S, and count S's harvests inside. ``predictions``:
    season, y_true, y_pred of one model recipe, one row per harvest and fold."""
    frame = predictions
    per_season: dict[int, tuple[int, int]] = {}
    for season in seasons:
        earlier = recent_residuals(frame, before=season, window=window)
        if len(earlier) == 0:
            continue
        interval = calibrate(earlier, level)
        rows = frame[frame["season"] == season]
        low, high = interval.apply(rows["y_pred"].to_numpy())
        inside = (rows["y_true"] >= low) & (rows["y_true"] <= high)
        per_season[int(season)] = (int(inside.sum()), len(rows))
    return Coverage(
        covered=sum(c for c, _ in per_season.values()),
        harvests=sum(n for _, n in per_season.values()),
        seasons=list(per_season),
        per_season=per_season,
        level=level,
    )
