"""The champion as an MLflow model: one pyfunc for every kind (network, forest, mean), so
the registry, the gate and `yieldflow forecast` handle them all the same way."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import sklearn
import torch
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from yieldflow.ml.forecaster import SeasonForecaster

REQUIREMENTS = [
    f"torch=={torch.__version__.split('+')[0]}",
    f"scikit-learn=={sklearn.__version__}",
    f"numpy=={np.__version__}",
    f"pandas=={pd.__version__}",
    "yieldflow",
]
POINT_COLUMN = "forecast_point"


class ChampionModel(mlflow.pyfunc.PythonModel):
    """Rows of the season feature table in, t/ha out. A ``forecast_point`` column picks
    the point model per row (default: the harvest model)."""

    def __init__(self, forecaster: SeasonForecaster) -> None:
        self.forecaster = forecaster

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        harvest = max(self.forecaster.points)
        points = (
            model_input[POINT_COLUMN].fillna(harvest)
            if POINT_COLUMN in model_input
            else pd.Series(harvest, index=model_input.index)
        )
        result = np.full(len(model_input), np.nan)
        for point, rows in model_input.groupby(points.to_numpy()).groups.items():
            where = model_input.index.get_indexer(rows)
            result[where] = self.forecaster.predict(float(point), model_input.loc[rows])
        return result


def log_champion_model(forecaster: SeasonForecaster, example: pd.DataFrame) -> ModelInfo:
    """Inside an active run: the forecaster as a pyfunc with a raw-feature signature."""
    model = ChampionModel(forecaster)
    example = example.astype({c: float for c in example.select_dtypes("number").columns})
    signature = infer_signature(example, model.predict(None, example))
    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                signature=signature,
                input_example=example,
                pip_requirements=REQUIREMENTS,
            )
    finally:
        quiet.setLevel(level)


def load_forecaster(model_uri: str) -> SeasonForecaster:
    loaded = mlflow.pyfunc.load_model(model_uri)
    return loaded.unwrap_python_model().forecaster
