"""A real MLflow server killed part-way through a seasonal run.

Restarted within the tracking tasks' retry window: the run completes and its MLflow runs
are complete. Kept down: the run fails with one line naming the run folder, and the
report, summary and trained model are in that folder. The kill is synchronised on what
the run has done (its parent MLflow run exists) and the restart on what it has seen (a
tracking task waiting to retry), never on sleeps.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.support.servers import ManagedProcess, free_port, mlflow_server
from yieldflow.config import (
    BaselineConfig,
    ChampionConfig,
    DataConfig,
    EvaluationConfig,
    PipelineConfig,
    TrackingConfig,
    TrainingConfig,
)
from yieldflow.flows.seasonal_pipeline import seasonal_pipeline
from yieldflow.ml.mlp import predict
from yieldflow.ml.persistence import load_mlp
from yieldflow.tracking.runs import TAG_MODEL, TAG_PIPELINE_RUN, TrackingUnavailableError

MODELS = {"mlp", "random_forest", "linear", "mean_baseline"}
WAIT_S = 180.0


def restartable_mlflow(folder: Path, port: int) -> ManagedProcess:
    """An MLflow server whose runs and artifacts live in `folder` (restartable)."""
    return mlflow_server(port, folder, _environ(), name=f"mlflow-{port}")


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


def wait_for(what: str, found: Callable[[], object]) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def parent_run_started(uri: str, experiment: str) -> str | None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id]) if found else []
    return next((r.info.run_id for r in runs if TAG_PIPELINE_RUN in r.data.tags), None)


def a_task_awaits_retry(api_url: str, since: datetime) -> bool:
    """A task run started since `since` (this test's) is waiting to retry, or retrying."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterStartTime,
        TaskRunFilterState,
        TaskRunFilterStateName,
    )

    retrying = TaskRunFilterStateName(any_=["AwaitingRetry", "Retrying"])
    with SyncPrefectClient(api_url) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                state=TaskRunFilterState(name=retrying),
                start_time=TaskRunFilterStartTime(after_=since),
            )
        )
    return bool(runs)


def run_with_mlflow_killed(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch, *, restart: bool
) -> tuple[dict | BaseException, str, list[BaseException], list[dict]]:
    """Run the seasonal flow here while a thread kills (and maybe restarts) MLflow.

    Returns the flow's summary or its exception, the tracking URI, the thread's errors
    and, when restarted, the experiment's MLflow runs.
    """
    from prefect.settings import PREFECT_API_URL

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    experiment = f"killed-{'restarted' if restart else 'down'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # MLflow's own HTTP retries would hide the outage from the tasks' retries under test.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    api_url = PREFECT_API_URL.value()
    started = datetime.now(UTC)
    servers = [restartable_mlflow(tmp_path, port).start()]
    errors: list[BaseException] = []

    def kill_then_maybe_restart() -> None:
        try:
            wait_for("the parent MLflow run", lambda: parent_run_started(uri, experiment))
            servers[0].stop()
            if restart:
                wait_for("a tracking task to retry", lambda: a_task_awaits_retry(api_url, started))
                servers.append(restartable_mlflow(tmp_path, port).start())
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    config = PipelineConfig(
        data=DataConfig(data=str(dataset)),
        training=TrainingConfig(max_epochs=30, patience=5),
        baselines=BaselineConfig(rf_n_estimators=10),
        evaluation=EvaluationConfig(cross_validate=False),
        champion=ChampionConfig(register_champion=False),
        tracking=TrackingConfig(experiment=experiment, output_dir=str(tmp_path / "runs")),
    )
    saboteur = threading.Thread(target=kill_then_maybe_restart, daemon=True)
    saboteur.start()
    try:
        try:
            outcome: dict | BaseException = seasonal_pipeline(config)
        except Exception as error:
            outcome = error
        saboteur.join(timeout=WAIT_S)
        runs = _runs(uri, experiment) if restart and not errors else []
        return outcome, uri, errors, runs
    finally:
        for server in servers:
            server.stop()


def _runs(uri: str, experiment: str) -> list[dict]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id])
    return [
        {
            "model": r.data.tags.get(TAG_MODEL),
            "status": r.info.status,
            "parent": TAG_MODEL not in r.data.tags,
            "artifacts": [a.path for a in client.list_artifacts(r.info.run_id)],
            "test_rmse": r.data.metrics.get("test_rmse"),
        }
        for r in runs
    ]


def test_mlflow_restarted_within_the_retries_loses_nothing(
    prefect_server, small_dataset, tmp_path, monkeypatch
):
    outcome, _, errors, runs = run_with_mlflow_killed(
        tmp_path, small_dataset, monkeypatch, restart=True
    )
    assert not errors, errors
    assert isinstance(outcome, dict), outcome
    parents = [r for r in runs if r["parent"]]
    models = [r for r in runs if not r["parent"]]
    assert len(parents) == 1 and parents[0]["status"] == "FINISHED"
    assert {"report.md", "summary.json"} <= set(parents[0]["artifacts"])
    # one complete run per model: no half-logged duplicate left by a failed attempt
    assert sorted(r["model"] for r in models) == sorted(MODELS)
    assert all(r["status"] == "FINISHED" and r["test_rmse"] is not None for r in models)
    for model in models:
        assert model["test_rmse"] == pytest.approx(outcome["models"][model["model"]]["test_rmse"])


def test_mlflow_down_for_good_fails_in_one_line_with_everything_saved(
    prefect_server, small_dataset, tmp_path, monkeypatch
):
    outcome, uri, errors, _ = run_with_mlflow_killed(
        tmp_path, small_dataset, monkeypatch, restart=False
    )
    assert not errors, errors
    assert isinstance(outcome, TrackingUnavailableError), outcome
    message = str(outcome)
    assert "\n" not in message and f"MLflow at {uri} failed after retries" in message
    run_folder = Path(message.rsplit(" are kept in ", 1)[1])
    for name in ("report.md", "loss_curve.png", "summary.json", "quarantine.csv"):
        assert (run_folder / name).is_file(), name
    summary = json.loads((run_folder / "summary.json").read_text())
    assert set(summary["models"]) == MODELS
    assert all(m["test_rmse"] > 0 for m in summary["models"].values())
    report = (run_folder / "report.md").read_text()
    assert "**Verdict.**" in report
    assert "**Not in MLflow:**" in report  # the report says where it is (and is not)
    # the trained MLP loads without MLflow (weights only) and predicts
    model, feature_names = load_mlp(run_folder / "model")
    assert len(feature_names) == model.net[0].in_features
    assert np.isfinite(predict(model, np.zeros((2, len(feature_names))))).all()
