"""The simple models the network must beat, fitted on exactly the MLP's split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from yieldflow.config import BaselineConfig

BASELINE_NAMES = ("random_forest", "linear", "mean_baseline")


@dataclass
class FittedBaseline:
    name: str
    estimator: BaseEstimator
    params: dict[str, Any]


def make_baselines(config: BaselineConfig, seed: int) -> dict[str, BaseEstimator]:
    """Unfitted estimators; the linear model scales inside its pipeline (train-fitted)."""
    return {
        "random_forest": RandomForestRegressor(
            n_estimators=config.rf_n_estimators,
            min_samples_leaf=config.rf_min_samples_leaf,
            random_state=seed,
            n_jobs=1,
        ),
        "linear": make_pipeline(StandardScaler(), Ridge(alpha=config.ridge_alpha)),
        "mean_baseline": DummyRegressor(strategy="mean"),
    }


def fit_baselines(
    x_train: pd.DataFrame, y_train: np.ndarray, config: BaselineConfig, seed: int
) -> list[FittedBaseline]:
    """Fit on a named-column frame, so the logged models check column names at predict."""
    fitted = []
    for name, estimator in make_baselines(config, seed).items():
        estimator.fit(x_train, y_train)
        fitted.append(FittedBaseline(name, estimator, _public_params(estimator)))
    return fitted


def _public_params(estimator: BaseEstimator | RegressorMixin) -> dict[str, Any]:
    """The hyperparameters worth logging (not the whole nested get_params dump)."""
    if isinstance(estimator, Pipeline):
        model = estimator.steps[-1][1]
        params = {f"{estimator.steps[-1][0]}__{k}": v for k, v in model.get_params().items()}
        params["scaler"] = "StandardScaler (fitted on train)"
        return {k: v for k, v in params.items() if v is not None}
    return {k: v for k, v in estimator.get_params().items() if v is not None}
