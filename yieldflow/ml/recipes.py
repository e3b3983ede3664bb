"""Every model the pipeline compares, fitted and applied the same way: on rows of the
season feature table (farm_id, season, crop, soil_type, the numeric features, the yield).

One entry point per step (``fit_model``, ``FittedModel.predict``) serves the season-wise
folds, the backtests at points of the season and the champion refitted on every season, so
what is evaluated is exactly what is registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from yieldflow.config import BaselineConfig, TrainingConfig
from yieldflow.features.seasons import TARGET
from yieldflow.features.split import FeatureEncoder
from yieldflow.ml.baselines import make_baselines
from yieldflow.ml.mlp import predict as mlp_predict
from yieldflow.ml.mlp import train_mlp
from yieldflow.ml.simple_means import crop_mean, farm_crop_mean, farm_mean

MLP = "mlp"
FEATURE_BASELINES = ("random_forest", "linear", "mean_baseline")
HISTORICAL_MEANS = {
    "crop_mean": crop_mean,
    "farm_crop_mean": farm_crop_mean,
    "farm_mean": farm_mean,
}
SIMPLE_MODELS = (*FEATURE_BASELINES, *HISTORICAL_MEANS)
ALL_MODELS = (MLP, *SIMPLE_MODELS)
# The reference every model's skill is measured against: knowing the crop, nothing more.
REFERENCE = "crop_mean"
# What a forecast falls back to when no model beats it at that point of the season.
FALLBACK = "farm_crop_mean"


@dataclass
class FittedModel:
    kind: str
    seasons: list[int]  # the harvest seasons it learnt from
    estimator: Any  # a scikit-learn estimator, a YieldMLP or a HistoricalMean
    encoder: FeatureEncoder | None = None  # None for the historical means
    epochs: int | None = None  # the MLP's epoch count (chosen by inner early stopping)

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """Yields in t/ha for rows of a season feature table."""
        if self.encoder is None:
            return np.asarray(self.estimator.predict(table), dtype=float)
        frame = self.encoder.frame(table)
        if self.kind == MLP:
            return mlp_predict(self.estimator, frame.to_numpy())
        return np.asarray(self.estimator.predict(frame), dtype=float)


def fit_model(
    kind: str,
    train: pd.DataFrame,
    training: TrainingConfig,
    baselines: BaselineConfig,
    seed: int,
) -> FittedModel:
    """``kind`` fitted on every row of ``train`` (all its seasons)."""
    seasons = sorted(int(s) for s in train["season"].unique())
    if kind in HISTORICAL_MEANS:
        return FittedModel(kind, seasons, HISTORICAL_MEANS[kind]().fit(train))
    if kind == MLP:
        return fit_mlp_on_all_seasons(train, training, seed)
    if kind not in FEATURE_BASELINES:
        raise ValueError(f"unknown model {kind!r}; known: {', '.join(ALL_MODELS)}")
    encoder = FeatureEncoder.fit(train)
    x, y = encoder.frame(train), train[TARGET].to_numpy(dtype=float)
    estimator = make_baselines(baselines, seed)[kind].fit(x, y)
    return FittedModel(kind, seasons, estimator, encoder)


def fit_mlp_on_all_seasons(train: pd.DataFrame, training: TrainingConfig, seed: int) -> FittedModel:
    """Early-stop on the last season, then refit on every season for the chosen epochs.

    The inner split (earlier seasons → the last one) picks the epoch count without
    touching anything outside ``train``; the refit then learns from every season the
    simple models learn from, so the comparison is between equals.
    """
    seasons = sorted(int(s) for s in train["season"].unique())
    if len(seasons) < 2:
        raise ValueError("the MLP needs two seasons: one to learn from, one to early-stop on")
    fit, stop = train[train["season"] < seasons[-1]], train[train["season"] == seasons[-1]]
    inner = FeatureEncoder.fit(fit)
    chosen = train_mlp(
        inner.frame(fit).to_numpy(),
        fit[TARGET].to_numpy(dtype=float),
        inner.frame(stop).to_numpy(),
        stop[TARGET].to_numpy(dtype=float),
        training,
        seed,
    )
    encoder = FeatureEncoder.fit(train)
    x, y = encoder.frame(train).to_numpy(), train[TARGET].to_numpy(dtype=float)
    refit = train_mlp(
        x,
        y,
        x,
        y,
        training.model_copy(update={"max_epochs": chosen.best_epoch}),
        seed,
        early_stopping=False,
        keep_last=True,
    )
    return FittedModel(MLP, seasons, refit.model, encoder, epochs=chosen.best_epoch)
