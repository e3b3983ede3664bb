"""Log models to MLflow with a column-named signature, so a forecast with features that do
not match the training columns is refused by MLflow's schema check."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import sklearn
import torch
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from sklearn.base import BaseEstimator

from yieldflow.ml.mlp import YieldMLP, predict

# Pinning requirements skips MLflow's ~7 s requirement inference per model.
TORCH_REQUIREMENTS = [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]
SKLEARN_REQUIREMENTS = [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}"]
# skops refuses to load a forest's trees unless this type is trusted explicitly.
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


def log_mlp_model(model: YieldMLP, example: pd.DataFrame) -> ModelInfo:
    """Inside an active run: the MLP as an MLflow PyTorch model (float32 columns in, t/ha out)."""
    import mlflow.pytorch  # after Prefect's imports: it reconfigures root logging

    example = example.astype(np.float32)
    signature = infer_signature(example, predict(model, example.to_numpy()))
    flavor_logger = logging.getLogger("mlflow.pytorch")
    level = flavor_logger.level
    flavor_logger.setLevel(logging.ERROR)  # pickle-format notice: the file is our own model
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mlflow.pytorch.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                serialization_format="pickle",  # pt2 cannot carry a column-named signature
                pip_requirements=TORCH_REQUIREMENTS,
            )
    finally:
        flavor_logger.setLevel(level)


def log_sklearn_model(estimator: BaseEstimator, example: pd.DataFrame) -> ModelInfo:
    """Inside an active run: a fitted scikit-learn estimator, stored with skops (no pickle)."""
    import mlflow.sklearn

    signature = infer_signature(example, estimator.predict(example))
    return mlflow.sklearn.log_model(
        estimator,
        name="model",
        signature=signature,
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        pip_requirements=SKLEARN_REQUIREMENTS,
    )
