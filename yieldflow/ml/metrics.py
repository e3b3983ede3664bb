"""The one scoring function every model goes through (CY-Bench habit: same code, same folds)."""

from __future__ import annotations

import numpy as np


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE and MAE in t/ha, and R² (NaN when the truth is constant or has < 2 rows)."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError("y_true and y_pred must be non-empty and the same shape")
    errors = y_pred - y_true
    total = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = 1.0 - float((errors**2).sum()) / total if y_true.size > 1 and total > 0 else float("nan")
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": r2,
    }
