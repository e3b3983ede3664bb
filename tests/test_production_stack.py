"""The production path against real servers: SeaweedFS (S3), a Prefect server, an MLflow
server with S3 artifacts, both work pools with real workers, `prefect deploy --all`, and
the seasonal deployment triggered on an S3 dataset. Nothing here is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ManagedProcess, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Planted credentials: any access key works on SeaweedFS; these must never leak.
ACCESS_KEY = "AKIAPLANTEDKEY7Q3Z"
SECRET_KEY = "planted-secret-9f8e7d6c5b4a"
DATA_BUCKET = "farm-data"
ARTIFACT_BUCKET = "mlflow-artifacts"


def _prefect(env: dict[str, str], *args: str, timeout: int = 120) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(seaweedfs, small_dataset, tmp_path_factory):
    """All servers and both workers up; yields (env, log folder); everything stopped after."""
    logs = tmp_path_factory.mktemp("stack")
    client = seaweedfs.client()
    for bucket in (DATA_BUCKET, ARTIFACT_BUCKET):
        client.create_bucket(Bucket=bucket)
    seaweedfs.upload_tree(small_dataset, DATA_BUCKET, "exports/2024")

    prefect_port, mlflow_port = free_port(), free_port()
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_", "MLFLOW_"))
    }
    env = {
        **base,
        "PREFECT_HOME": str(logs / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "AWS_ENDPOINT_URL_S3": seaweedfs.endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "YIELDFLOW_CACHE": str(logs / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    mlflow_env = {
        **env,
        "MLFLOW_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    processes = [
        ManagedProcess(
            "prefect-server",
            [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", prefect_port],
            log_dir=logs,
            env=env,
            health=f"http://127.0.0.1:{prefect_port}/api/health",
            startup_timeout=120,
        ),
        ManagedProcess(
            "mlflow-server",
            [
                BIN / "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{logs / 'mlflow.db'}",
                "--artifacts-destination",
                f"s3://{ARTIFACT_BUCKET}/",
                "--host",
                "127.0.0.1",
                "--port",
                mlflow_port,
                "--workers",
                "1",
            ],
            log_dir=logs,
            env=mlflow_env,
            health=f"http://127.0.0.1:{mlflow_port}/health",
            startup_timeout=120,
        ),
    ]
    try:
        for process in processes:
            process.start()
        subprocess.run(
            [str(REPO / "deployments" / "create_pools.sh")],
            cwd=REPO,
            check=True,
            env={**env, "PREFECT": str(BIN / "prefect")},
            capture_output=True,
            timeout=120,
        )
        _prefect(env, "--no-prompt", "deploy", "--all", timeout=180)
        for pool in ("cpu", "gpu"):
            worker = ManagedProcess(
                f"worker-{pool}",
                [BIN / "prefect", "worker", "start", "--pool", pool],
                log_dir=logs,
                env=env,
                cwd=logs,
            )
            processes.append(worker.start())
        yield env, logs
    finally:
        for process in reversed(processes):
            process.stop()


def _flow_runs(env: dict[str, str]):
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            runs = await client.read_flow_runs()
            artifacts = await client.read_artifacts()
            logs = await client.read_logs()
            deployments = {d.id: d.name for d in await client.read_deployments()}
            return runs, artifacts, logs, deployments

    return asyncio.run(read())


@pytest.fixture(scope="module")
def seasonal_run(stack):
    env, logs = stack
    parameters = {
        "config": {
            "data": {"data": f"s3://{DATA_BUCKET}/exports/2024"},
            "training": {"max_epochs": 150, "patience": 20},
            "baselines": {"rf_n_estimators": 30},
            "tracking": {"experiment": "integration", "output_dir": str(logs / "runs")},
            "orchestration": {"shared_storage": f"s3://{DATA_BUCKET}/runs"},
        }
    }
    done = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "seasonal-yield-pipeline/seasonal-retrain",
            "--params",
            json.dumps(parameters),
            "--watch",
            "--watch-timeout",
            "600",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=660,
    )
    worker_logs = "".join(p.read_text() for p in logs.glob("worker-*.log"))
    assert done.returncode == 0, (
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{worker_logs[-4000:]}"
    )
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        runs, artifacts, run_logs, deployments = _flow_runs(env)
    return runs, artifacts, run_logs, deployments, env, logs


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
