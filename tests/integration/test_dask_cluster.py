"""The seasonal pipeline on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on 127.0.0.1, reporting to a real Prefect server. Same feature table, metrics
and verdict as the embedded run; a worker killed mid-run changes nothing."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.support.servers import ManagedProcess, free_port, prefect_server
from yieldflow.features.farm_batches import BATCHES_DIR

BIN = Path(sys.executable).parent


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=5) as client:
        return len(client.scheduler_info()["workers"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Prefect server + Dask scheduler + two single-threaded workers, stopped by PID."""
    logs = tmp_path_factory.mktemp("dask")
    prefect_port, dask_port = free_port(), free_port()
    api = f"http://127.0.0.1:{prefect_port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(logs / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "OMP_NUM_THREADS": "1",  # one core per single-threaded worker, as in production
    }
    address = f"tcp://127.0.0.1:{dask_port}"
    prefect = prefect_server(prefect_port, logs, env)
    scheduler = ManagedProcess(
        "dask-scheduler",
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", dask_port,
         "--dashboard-address", f"127.0.0.1:{free_port()}"],
        log_dir=logs,
        env=env,
        health=lambda: _workers(address) >= 0,
    )  # fmt: skip

    def worker(name: str) -> ManagedProcess:
        return ManagedProcess(
            name,
            [BIN / "dask", "worker", address, "--name", name, "--nthreads", "1",
             "--nworkers", "1", "--no-dashboard", "--memory-limit", "0"],
            log_dir=logs,
            env=env,
            health=None,
        )  # fmt: skip

    started = []
    try:
        for process in (prefect, scheduler):
            started.append(process.start())
        workers = [worker("worker-1").start(), worker("worker-2").start()]
        started += workers
        deadline = time.monotonic() + 60
        while _workers(address) < 2:
            assert time.monotonic() < deadline, "two Dask workers did not register"
            time.sleep(0.5)
        yield {"api": api, "address": address, "workers": workers, "home": env["PREFECT_HOME"]}
    finally:
        # Send what Prefect still queues for this server before it stops: a worker left
        # holding events for a dead server hangs the next drain (the session harness's).
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for service in (APILogWorker, EventsWorker):
            service.drain_all(timeout=30)
        for process in reversed(started):
            process.stop()


def run_pipeline(cluster, dataset: Path, out: Path, task_runner: str) -> dict:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from yieldflow.config import PipelineConfig
    from yieldflow.flows.seasonal_pipeline import seasonal_pipeline

    config = PipelineConfig.model_validate(
        {
            "data": {"data": str(dataset)},
            "training": {"max_epochs": 150, "patience": 20},
            "baselines": {"rf_n_estimators": 30},
            "evaluation": {"mlp_seeds": 2},
            "tracking": {"output_dir": str(out / "runs")},
            "orchestration": {"task_runner": task_runner},
        }
    )
    with (
        temporary_settings({PREFECT_API_URL: cluster["api"], PREFECT_HOME: cluster["home"]}),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
        return seasonal_pipeline(config)


def same_results(embedded: dict, clustered: dict) -> None:
    assert clustered["verdict"] == embedded["verdict"]
    for model, numbers in embedded["evaluation"]["models"].items():
        for key, value in numbers.items():
            other = clustered["evaluation"]["models"][model][key]
            if value is None:
                assert other is None, (model, key)
            else:
                # float32 training: a worker's single torch thread may round a last bit
                # differently from this process's threads, nothing more
                assert other == pytest.approx(value, rel=1e-6, abs=1e-9), (model, key)
    assert clustered["backtest"]["covered"] == embedded["backtest"]["covered"]
    assert clustered["champion"]["model"] == embedded["champion"]["model"]
    tables = [
        pd.read_parquet(Path(s["outputs"]["run_folder"]) / "features.parquet")
        for s in (embedded, clustered)
    ]
    pd.testing.assert_frame_equal(*tables)
    # Ingestion was batched by farm on the cluster only: same quarantine and accounting.
    folders = [Path(s["outputs"]["run_folder"]) for s in (embedded, clustered)]
    for name in ("quarantine.csv", "ingestion_summary.json"):
        assert (folders[1] / name).read_bytes() == (folders[0] / name).read_bytes(), name
    assert clustered["data"] == embedded["data"]
    assert not (folders[0] / BATCHES_DIR).exists()
    batches = sorted((folders[1] / BATCHES_DIR).glob("batch-*/readings.parquet"))
    assert len(batches) > 1, batches  # 5 farms, up to 8 batches: one task per farm


@pytest.fixture(scope="module")
def embedded(cluster, small_dataset, tmp_path_factory):
    return run_pipeline(cluster, small_dataset, tmp_path_factory.mktemp("embedded"), "local")


def test_the_pipeline_on_a_dask_cluster_gives_the_embedded_result(
    cluster, embedded, small_dataset, tmp_path
):
    from distributed import Client

    clustered = run_pipeline(cluster, small_dataset, tmp_path, f"dask://{cluster['address'][6:]}")
    same_results(embedded, clustered)
    with Client(cluster["address"], timeout=5) as client:
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and all(count > 0 for count in executed.values()), executed


def test_a_worker_killed_mid_run_changes_nothing(cluster, embedded, small_dataset, tmp_path):
    from distributed import Client

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["summary"] = run_pipeline(
                cluster, small_dataset, tmp_path, f"dask://{cluster['address'][6:]}"
            )
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    with Client(cluster["address"], timeout=5) as client:
        deadline = time.monotonic() + 300
        while not any(client.processing().values()):  # the grid has reached the cluster
            assert thread.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.1)
        busy = next(address for address, tasks in client.processing().items() if tasks)
        name = client.scheduler_info()["workers"][busy]["name"]
        victim = next(w for w in cluster["workers"] if w.name == name)
        os.killpg(victim.pid, signal.SIGKILL)  # a worker holding a task dies
    thread.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    same_results(embedded, outcome["summary"])
