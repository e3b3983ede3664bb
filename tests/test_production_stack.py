"""The production path against real servers: SeaweedFS (S3), a Prefect server, an MLflow
server with S3 artifacts, both work pools with real workers, `prefect deploy --all`, and
the seasonal deployment triggered on an S3 dataset. Nothing here is mocked."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.servers import free_port
from tests.stack_fixtures import ACCESS_KEY, ARTIFACT_BUCKET, BIN, DATA_BUCKET, SECRET_KEY

# The `stack` and `seasonal_run` fixtures are session-scoped (tests/stack_fixtures.py, via
# conftest.py): one stack and one seasonal run, shared with tests/test_browser.py.
pytestmark = pytest.mark.integration


def test_parent_and_child_ran_on_their_own_pools(seasonal_run):
    runs, _, _, deployments, _, _ = seasonal_run
    by_deployment = {deployments.get(r.deployment_id): r for r in runs if r.deployment_id}
    parent, child = by_deployment["seasonal-retrain"], by_deployment["train-model"]
    assert parent.state.is_completed() and child.state.is_completed()
    assert parent.work_pool_name == "cpu" and child.work_pool_name == "gpu"
    assert child.parent_task_run_id is not None  # started by the parent via run_deployment


def test_artifacts_are_readable_through_the_api(seasonal_run):
    _, artifacts, _, _, _, _ = seasonal_run
    by_key = {a.key: a for a in artifacts if a.key}
    assert "data:image/png;base64," in by_key["yield-report"].data
    table = by_key["model-metrics"].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {r["model"] for r in rows} == {"mlp", "random_forest", "linear", "mean_baseline"}


def test_mlflow_runs_exist_and_their_artifacts_are_objects_in_the_bucket(seasonal_run, seaweedfs):
    from mlflow.tracking import MlflowClient

    _, _, _, _, env, _ = seasonal_run
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("integration")
    runs = client.search_runs([experiment.experiment_id])
    models = {r.data.tags.get("yieldflow.model") for r in runs}
    assert {"mlp", "random_forest", "linear", "mean_baseline"} <= models
    listing = seaweedfs.client().list_objects_v2(Bucket=ARTIFACT_BUCKET, MaxKeys=1000)
    keys = [item["Key"] for item in listing.get("Contents", [])]
    assert any(k.endswith("loss_curve.png") for k in keys)
    assert any(k.endswith("report.md") for k in keys)
    assert sum(k.endswith("MLmodel") for k in keys) >= 4  # one logged model per model run


def test_features_were_shared_through_s3(seasonal_run, seaweedfs):
    listing = seaweedfs.client().list_objects_v2(Bucket=DATA_BUCKET, Prefix="runs/")
    assert any(i["Key"].endswith("features.parquet") for i in listing.get("Contents", []))


def test_no_credential_appears_in_logs_artifacts_or_mlflow(seasonal_run):
    from mlflow.tracking import MlflowClient

    runs, artifacts, run_logs, _, env, logs = seasonal_run
    texts = [log.message for log in run_logs]
    texts += [str(a.data) for a in artifacts]
    texts += [json.dumps(r.parameters, default=str) for r in runs]
    texts += [p.read_text(errors="replace") for p in logs.glob("*.log")]
    texts += [
        p.read_text(errors="replace")
        for p in (logs / "runs").rglob("*")
        if p.is_file() and p.suffix in {".json", ".md", ".csv"}
    ]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    for run in client.search_runs([client.get_experiment_by_name("integration").experiment_id]):
        texts.append(json.dumps(run.data.params) + json.dumps(run.data.tags))
    assert len(texts) > 50
    for text in texts:
        assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_s3_down_at_the_start_fails_clearly_after_the_retries(stack, tmp_path):
    env, _ = stack
    dead = {
        **env,
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}",
        "YIELDFLOW_S3_MAX_ATTEMPTS": "2",
    }
    done = subprocess.run(
        [str(BIN / "yieldflow"), "run", "--data", f"s3://{DATA_BUCKET}/exports/2024"],
        cwd=tmp_path,
        env=dead,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, done.stderr[-2000:]
    assert "unreachable after 2 attempts" in error_lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert SECRET_KEY not in done.stderr + done.stdout
