"""The run summary: a stable JSON interface that automation reads (see README)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pandas as pd

from yieldflow.ml.compare import ModelScores

SUMMARY_VERSION = 2


def dataset_fingerprint(*frames: pd.DataFrame) -> str:
    """Content hash of the validated data: same data, same fingerprint, whatever the files."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()[:16]


def build_summary(
    *,
    data: Mapping[str, Any],
    scores: Mapping[str, ModelScores],
    run_ids: Mapping[str, str | None],
    mlp_extra: Mapping[str, Any],
    tracking_uri: str,
    experiment: str,
    flow_run_id: str,
    verdict: str,
    outputs: Mapping[str, str],
    evaluation: Mapping[str, Any] | None = None,
    backtest: Mapping[str, Any] | None = None,
    champion: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    models: dict[str, dict[str, Any]] = {}
    for name, score in scores.items():
        models[name] = {
            "val_rmse": score.val["rmse"],
            "test_rmse": score.test["rmse"],
            "test_mae": score.test["mae"],
            "test_r2": score.test["r2"],
            "test_nrmse": score.test.get("nrmse"),
            "test_mape": score.test.get("mape"),
            "mlflow_run_id": run_ids.get(name),
        }
    models["mlp"].update(mlp_extra)
    return {
        "version": SUMMARY_VERSION,
        "data": dict(data),
        "models": models,
        "mlflow": {"tracking_uri": tracking_uri, "experiment": experiment},
        "prefect": {"flow_run_id": flow_run_id},
        "verdict": verdict,
        "evaluation": dict(evaluation) if evaluation else None,
        "backtest": dict(backtest) if backtest else None,
        "champion": dict(champion) if champion else None,
        "outputs": dict(outputs),
    }
