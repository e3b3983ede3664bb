"""Is the network worth it? A paired comparison over season-wise folds, with its interval.

The MLP is judged against every simple model (so the model to beat is not picked on the
folds it is judged on). For each, the per-fold difference in NRMSE (scale-free: each
error over its crop's mean yield) gets a 90% t-interval over folds; "better" or "worse"
only when the interval excludes zero, otherwise "no clear difference". With a single fold
there is no spread between seasons to build a t-interval from, so the interval is a
bootstrap over that season's harvests, and the verdict says how thin that is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.9
# Below this many folds the verdict says the evidence is thin.
FEW_FOLDS = 3
# Each fold needs this many earlier seasons (the MLP early-stops on the last of them).
SEASONS_BEFORE_FIRST_FOLD = 2
BETTER, WORSE, UNCLEAR = "better", "worse than", "no clear difference"


@dataclass(frozen=True)
class PairedDifference:
    """MLP minus one simple model, per fold, in NRMSE (fractions) and RMSE (t/ha)."""

    simple: str
    fold_nrmse: dict[int, float]
    fold_rmse: dict[int, float]
    mean: float
    low: float
    high: float
    method: str  # "t-interval over folds" or "bootstrap over harvests"

    @property
    def label(self) -> str:
        if self.high < 0:
            return BETTER
        if self.low > 0:
            return WORSE
        return UNCLEAR

    @property
    def mean_rmse(self) -> float:
        return float(np.mean(list(self.fold_rmse.values())))

    def interval_text(self) -> str:
        return (
            f"NRMSE difference {100 * self.mean:+.1f} points of crop mean yield "
            f"(90% interval {100 * self.low:+.1f} to {100 * self.high:+.1f}; "
            f"{self.mean_rmse:+.2f} t/ha RMSE)"
        )


def t_interval(differences: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Two-sided t-interval for the mean of paired differences (needs two or more)."""
    n = len(differences)
    mean = float(np.mean(differences))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * np.std(differences, ddof=1) / np.sqrt(n))
    return mean - half, mean + half


def bootstrap_interval(
    scaled_mlp: np.ndarray,
    scaled_simple: np.ndarray,
    level: float = LEVEL,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of NRMSE(MLP) − NRMSE(simple) over harvests resampled in pairs."""
    rng = np.random.default_rng(seed)
    n = len(scaled_mlp)
    picks = rng.integers(0, n, size=(draws, n))
    diff = np.sqrt((scaled_mlp[picks] ** 2).mean(1)) - np.sqrt((scaled_simple[picks] ** 2).mean(1))
    return float(np.quantile(diff, (1 - level) / 2)), float(np.quantile(diff, (1 + level) / 2))


def seasons_to_settle(differences: np.ndarray, level: float = LEVEL, cap: int = 200) -> int | None:
    """How many seasons of data would make a difference of this size and spread clear:
    the fewest folds n whose t-interval half-width falls below |mean|, plus the seasons
    needed before the first fold. None when no number up to ``cap`` folds would."""
    if len(differences) < 2:
        return None
    mean, sd = abs(float(np.mean(differences))), float(np.std(differences, ddof=1))
    if sd == 0:
        return len(differences) + SEASONS_BEFORE_FIRST_FOLD if mean > 0 else None
    for n in range(max(2, len(differences)), cap + 1):
        if stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n) < mean:
            return n + SEASONS_BEFORE_FIRST_FOLD
    return None


@dataclass(frozen=True)
class Verdict:
    label: str  # BETTER, WORSE or UNCLEAR
    versus: str  # the simple model named in the sentence
    comparisons: dict[str, PairedDifference]
    recommended: str
    folds: list[int]
    seasons_needed: int | None

    @property
    def thin(self) -> bool:
        return len(self.folds) < FEW_FOLDS

    def sentence(self) -> str:
        main = self.comparisons[self.versus]
        k = len(self.folds)
        over = f"over {k} season-wise fold{'s' if k != 1 else ''}"
        if self.label == BETTER:
            text = (
                f"The MLP is better than every simple model; against the closest, "
                f"{self.versus}: {main.interval_text()} {over}."
            )
        elif self.label == WORSE:
            text = (
                f"The MLP is worse than the simpler {self.versus}: {main.interval_text()} "
                f"{over}; recommended: {self.recommended}."
            )
        else:
            text = (
                f"No clear difference between the MLP and the simpler {self.versus}: "
                f"{main.interval_text()} {over}, an interval that includes zero; the simpler "
                f"model does as well, recommended: {self.recommended}."
            )
        if self.thin:
            settle = (
                f"about {self.seasons_needed} seasons of data would settle a difference of "
                "this size"
                if self.seasons_needed
                else "no number of seasons within reach would settle a difference this small"
                if k >= 2
                else "a spread between seasons needs at least two folds (four seasons)"
            )
            text += f" The evidence is thin ({k} fold{'s' if k != 1 else ''}): {settle}."
        return text


def judge(
    fold_nrmse: pd.DataFrame,
    fold_rmse: pd.DataFrame,
    scaled_errors: pd.DataFrame | None = None,
    mlp: str = "mlp",
    level: float = LEVEL,
) -> Verdict:
    """The MLP against every other row of ``fold_nrmse`` (model × season).

    ``scaled_errors`` (model, season, row, scaled_error) is only needed with one fold, for
    the bootstrap over harvests. The recommended model is the MLP when it is better than
    every simple model, else the simple model with the lowest mean NRMSE over the folds.
    """
    folds = [int(s) for s in fold_nrmse.columns]
    comparisons: dict[str, PairedDifference] = {}
    for simple in (m for m in fold_nrmse.index if m != mlp):
        diff = (fold_nrmse.loc[mlp] - fold_nrmse.loc[simple]).to_numpy(dtype=float)
        if len(folds) >= 2:
            low, high = t_interval(diff, level)
            method = "t-interval over folds"
        elif scaled_errors is not None:
            pick = scaled_errors.set_index("model")
            low, high = bootstrap_interval(
                pick.loc[mlp, "scaled_error"].to_numpy(),
                pick.loc[simple, "scaled_error"].to_numpy(),
            )
            method = "bootstrap over harvests"
        else:
            low, high, method = -np.inf, np.inf, "none (one fold)"
        comparisons[simple] = PairedDifference(
            simple=simple,
            fold_nrmse=dict(zip(folds, diff.tolist(), strict=True)),
            fold_rmse=dict(
                zip(folds, (fold_rmse.loc[mlp] - fold_rmse.loc[simple]).tolist(), strict=True)
            ),
            mean=float(diff.mean()),
            low=low,
            high=high,
            method=method,
        )
    best_simple = str(fold_nrmse.drop(index=mlp).mean(axis=1).idxmin())
    if all(c.label == BETTER for c in comparisons.values()):
        label, versus, recommended = BETTER, best_simple, mlp
    else:
        worse = [c for c in comparisons.values() if c.label == WORSE]
        label = WORSE if worse else UNCLEAR
        # The sentence names the simple model with the best mean; a worse verdict names
        # the one the MLP is most clearly worse than.
        versus = max(worse, key=lambda c: c.low).simple if worse else best_simple
        recommended = best_simple
    needed = seasons_to_settle(np.array(list(comparisons[versus].fold_nrmse.values())), level)
    return Verdict(label, versus, comparisons, recommended, folds, needed)
