"""MLflow going away mid-run: the run fails with one clear message that says where the
trained model and the run's outputs are kept, and that model loads without MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException

import tasks.tracking
from flows.seasonal_pipeline import seasonal_pipeline
from yieldflow.config import (
    BaselineConfig,
    ChampionConfig,
    DataConfig,
    EvaluationConfig,
    PipelineConfig,
    TrackingConfig,
    TrainingConfig,
)
from yieldflow.ml.mlp import predict
from yieldflow.ml.persistence import load_mlp
from yieldflow.tracking import TrackingUnavailableError


def test_mlflow_down_during_the_run_keeps_the_trained_model(
    prefect_server, small_dataset, tmp_path, monkeypatch
):
    def server_gone(*args, **kwargs):
        raise MlflowException("API request to http://127.0.0.1:5000 failed: Connection refused")

    monkeypatch.setattr(tasks.tracking, "log_model_run", server_gone)  # after start_tracking
    config = PipelineConfig(
        data=DataConfig(data=str(small_dataset)),
        training=TrainingConfig(max_epochs=30, patience=5),
        baselines=BaselineConfig(rf_n_estimators=10),
        evaluation=EvaluationConfig(cross_validate=False),
        champion=ChampionConfig(register_champion=False),
        tracking=TrackingConfig(experiment="mlflow-down", output_dir=str(tmp_path / "runs")),
    )
    with pytest.raises(TrackingUnavailableError) as raised:
        seasonal_pipeline(config)
    message = str(raised.value)
    assert "\n" not in message and "failed after retries" in message
    run_folder = Path(message.rsplit(" are kept in ", 1)[1])
    assert (run_folder / "quarantine.csv").exists()
    model, feature_names = load_mlp(run_folder / "model")
    assert len(feature_names) == model.net[0].in_features
    assert np.isfinite(predict(model, np.zeros((2, len(feature_names))))).all()
