"""The one scoring code every model goes through (CY-Bench habit: same code, same folds).

Yields differ tenfold between crops (potato ~40 t/ha, soybean ~4), so pooled t/ha errors
are dominated by the high-yield crop. Next to RMSE and MAE in t/ha, every score therefore
has scale-free forms: NRMSE (RMSE as a fraction of the crop's mean yield, as crop-yield
benchmarks report it) and MAPE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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


def crop_scaled_errors(crops: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Each error as a fraction of its crop's mean observed yield in the scored rows."""
    truth = pd.Series(np.asarray(y_true, dtype=float))
    crop_mean = truth.groupby(np.asarray(crops)).transform("mean").to_numpy()
    return (np.asarray(y_pred, dtype=float) - truth.to_numpy()) / crop_mean


def scale_free_metrics(
    crops: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray
) -> dict[str, float]:
    """NRMSE (errors over their crop's mean yield, pooled) and MAPE, both as fractions."""
    y_true = np.asarray(y_true, dtype=float)
    scaled = crop_scaled_errors(crops, y_true, y_pred)
    return {
        "nrmse": float(np.sqrt(np.mean(scaled**2))),
        "mape": float(np.mean(np.abs(np.asarray(y_pred, dtype=float) - y_true) / y_true)),
    }


def all_metrics(crops: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """t/ha metrics and scale-free ones, under one set of names for every model."""
    return {**regression_metrics(y_true, y_pred), **scale_free_metrics(crops, y_true, y_pred)}


def per_crop_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """crop × (harvests, mean_yield, rmse, nrmse, mape) for a frame of crop/y_true/y_pred."""
    records = []
    for crop, group in frame.groupby("crop"):
        y_true, y_pred = group["y_true"].to_numpy(), group["y_pred"].to_numpy()
        rmse = regression_metrics(y_true, y_pred)["rmse"]
        records.append(
            {
                "crop": crop,
                "harvests": len(group),
                "mean_yield": float(y_true.mean()),
                "rmse": rmse,
                "nrmse": rmse / float(y_true.mean()),
                "mape": float(np.mean(np.abs(y_pred - y_true) / y_true)),
            }
        )
    return pd.DataFrame(records).set_index("crop")
