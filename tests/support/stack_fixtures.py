"""The production stack for integration tests, started once per test session.

`stack`: SeaweedFS (S3), a Prefect server, an MLflow server with S3 artifacts, both work
pools, `prefect deploy --all` and one worker per pool. `seasonal_run`: the seasonal-retrain
deployment triggered twice at once on the same S3 dataset. Both are session-scoped (re-exported by
tests/conftest.py), so test_production_stack.py and test_browser.py share one stack and one
seasonal run. The context managers below are the same set-up without pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.servers import (
    SeaweedFS,
    free_port,
    mlflow_server,
    prefect_server,
    prefect_worker,
    stack_env,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Planted credentials: any access key works on SeaweedFS; these must never leak.
ACCESS_KEY = "AKIAPLANTEDKEY7Q3Z"
SECRET_KEY = "planted-secret-9f8e7d6c5b4a"
# ...and credentials in the tracking URI (the MLflow server has no auth and ignores them).
TRACKING_PASSWORD = "planted-pass-5e4d3c2b1a"
TRACKING_USER = "planted-user"
DATA_BUCKET = "farm-data"
ARTIFACT_BUCKET = "mlflow-artifacts"
SEASONAL_DEPLOYMENT = "seasonal-yield-pipeline/seasonal-retrain"
EXPERIMENT = "integration"


def deployment_script(name: str) -> ModuleType:
    """deployments/<name>.py as a module (deployments/ is a folder of scripts)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "deployments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_credentials(uri: str) -> str:
    """The URI a browser opens: the planted user:password removed."""
    return uri.replace(f"{TRACKING_USER}:{TRACKING_PASSWORD}@", "")


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


@contextlib.contextmanager
def running_stack(
    seaweedfs: SeaweedFS, dataset: Path, logs: Path
) -> Iterator[tuple[dict[str, str], Path]]:
    """All servers and both workers up; yields (env, log folder); everything stopped after."""
    for bucket in (DATA_BUCKET, ARTIFACT_BUCKET):
        seaweedfs.create_bucket(bucket)
    seaweedfs.upload_tree(dataset, DATA_BUCKET, "exports/2024")

    prefect_port, mlflow_port = free_port(), free_port()
    tracking_uri = f"http://{TRACKING_USER}:{TRACKING_PASSWORD}@127.0.0.1:{mlflow_port}"
    env = {
        **stack_env(logs, prefect_port, tracking_uri),
        "AWS_ENDPOINT_URL_S3": seaweedfs.endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    mlflow_env = {
        **env,
        "MLFLOW_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    processes = [
        prefect_server(prefect_port, logs, env),
        mlflow_server(mlflow_port, logs, mlflow_env, artifacts=f"s3://{ARTIFACT_BUCKET}/"),
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
            processes.append(prefect_worker(pool, logs, env).start())
        yield env, logs
    finally:
        for process in reversed(processes):
            process.stop()


def _flow_runs(env: dict[str, str]):
    """Flow runs, artifacts, logs and deployments, read through a Prefect client pointed
    at the stack's server explicitly: prefect reads PREFECT_API_URL once, at import, and
    another test module may have imported it before the stack existed."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        from prefect.client.orchestration import PrefectClient

        async def read():
            async with PrefectClient(env["PREFECT_API_URL"]) as client:
                runs = await client.read_flow_runs()
                artifacts = await client.read_artifacts()
                logs = await client.read_logs()
                deployments = {d.id: d.name for d in await client.read_deployments()}
                return runs, artifacts, logs, deployments

        return asyncio.run(read())


def run_seasonal(env: dict[str, str], logs: Path, runs_at_once: int = 2) -> tuple[Any, ...]:
    """Trigger seasonal-retrain on the S3 dataset `runs_at_once` times at once (same data,
    same parameters) and wait for all of them (up to 10 min).

    Returns (flow runs, artifacts, logs, {deployment id: name}, env, log folder), read
    through the Prefect API once the runs have finished.
    """
    parameters = {
        "config": {
            "data": {"data": f"s3://{DATA_BUCKET}/exports/2024"},
            "training": {"max_epochs": 150, "patience": 20},
            "baselines": {"rf_n_estimators": 30},
            "tracking": {"experiment": EXPERIMENT, "output_dir": str(logs / "runs")},
            "orchestration": {"shared_storage": f"s3://{DATA_BUCKET}/runs"},
        }
    }
    states = _run_deployment_at_once(env, parameters, runs_at_once)
    worker_logs = "".join(p.read_text() for p in logs.glob("worker-*.log"))
    assert all(state.is_completed() for state in states), f"{states}\n{worker_logs[-6000:]}"
    runs, artifacts, run_logs, deployments = _flow_runs(env)
    return runs, artifacts, run_logs, deployments, env, logs


def _run_deployment_at_once(
    env: dict[str, str], parameters: dict[str, Any], count: int, timeout_s: float = 600
) -> list[Any]:
    """Create `count` runs of the seasonal deployment together; their final states.

    Like run_deployment(timeout=0) for each, then waiting for all, through a client
    pointed at the stack's server explicitly (see _flow_runs)."""
    from prefect.client.orchestration import PrefectClient

    async def run_all() -> list[Any]:
        async with PrefectClient(env["PREFECT_API_URL"]) as client:
            deployment = await client.read_deployment_by_name(SEASONAL_DEPLOYMENT)
            ids = [
                (
                    await client.create_flow_run_from_deployment(
                        deployment.id, parameters=parameters
                    )
                ).id
                for _ in range(count)
            ]
            deadline = time.monotonic() + timeout_s
            while True:
                runs = [await client.read_flow_run(run_id) for run_id in ids]
                if all(r.state and r.state.is_final() for r in runs):
                    return [r.state for r in runs]
                if time.monotonic() > deadline:
                    return [r.state for r in runs]
                await asyncio.sleep(2)

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        return asyncio.run(run_all())


@pytest.fixture(scope="session")
def stack(seaweedfs, small_dataset, tmp_path_factory):
    """All servers and both workers up; yields (env, log folder); everything stopped after."""
    with running_stack(seaweedfs, small_dataset, tmp_path_factory.mktemp("stack")) as started:
        yield started


@pytest.fixture(scope="session")
def seasonal_run(stack):
    """Two seasonal-retrain runs at once, once per session: (runs, artifacts, logs,
    deployments, env, logs folder)."""
    env, logs = stack
    return run_seasonal(env, logs)
