"""Prefect task: the simple models, fitted and scored on exactly the MLP's split."""

from __future__ import annotations

import time

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import BaselineConfig
from yieldflow.features.split import ModelData
from yieldflow.ml.baselines import FittedBaseline, fit_baselines
from yieldflow.tasks.run_names import fit_baselines_run_name


@task(name="fit-baselines", task_run_name=fit_baselines_run_name, cache_policy=NO_CACHE)
def fit_and_predict_baselines(
    data: ModelData, config: BaselineConfig, seed: int
) -> tuple[list[FittedBaseline], dict[str, dict[str, np.ndarray]]]:
    """Fitted baselines and their validation/test predictions, keyed by model name."""
    started = time.perf_counter()
    frames = {part: data.encoder.frame(data.frames[part]) for part in ("train", "val", "test")}
    fitted = fit_baselines(frames["train"], data.y["train"], config, seed)
    predictions = {
        b.name: {part: b.estimator.predict(frames[part]) for part in ("val", "test")}
        for b in fitted
    }
    get_run_logger().info(
        "Fitted baselines in %.1f s: %s",
        time.perf_counter() - started,
        ", ".join(b.name for b in fitted),
    )
    return fitted, predictions
