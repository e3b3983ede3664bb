"""Benchmark 4: what Prefect costs on one seasonal pipeline run, and how many task runs.

Why: orchestration should be a thin layer. The same pipeline runs twice per repeat, each
time in a fresh process (as `yieldflow run` would): once as the Prefect flow against a
running local Prefect server, once with every task and flow called through `.fn` (the
flow's own body, so the steps cannot drift apart) with run loggers disabled and Prefect
artifacts skipped. The difference of the medians is the overhead. MLflow logging happens
on both sides, so it cancels out. The Prefect side runs with PREFECT_TASKS_REFRESH_CACHE,
so its cached ingestion task recomputes (and persists) every time, as on new data: a cache
hit would skip work the plain side does and hide the overhead. A third side runs the flow
with flow-run heartbeats off, to show what Prefect's heartbeat thread costs: each flow run
(the pipeline and its subflows) waits for it on exit. The flow run's task runs are counted
through the Prefect client, to catch a per-epoch or per-farm explosion.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Check,
    DatasetSpec,
    at_most,
    cached_dataset,
    interleaved,
    log,
    median,
    run_in_child,
)

OVERHEAD_TARGET_S = 3.0
# Besides the evaluation grid (one task run per fold and forecast point here, per cell on a
# cluster) the flow has ~20 tasks; one per epoch or farm would be hundreds.
MAX_TASK_RUNS = 25
GRID_TASK = "evaluate_models_on_fold"  # task_key: the function name
# The default dataset's shape (12 farms × 4 seasons, hourly: 48 harvests); smoke: fewer farms.
SIZES = {
    "full": DatasetSpec(farms=12, interval_minutes=60, seed=42),
    "smoke": DatasetSpec(farms=4, interval_minutes=60, seed=42),
}
# Shorter training than the default 500 epochs: the overhead does not depend on it (the
# epoch log lines are max_epochs // 10 apart either way) and it keeps repeats affordable.
TRAINING = {
    "full": {"max_epochs": 100},
    "smoke": {"max_epochs": 5, "patience": 5},
}
BASELINES = {"full": {}, "smoke": {"rf_n_estimators": 10}}
REPEATS = {"full": 5, "smoke": 1}  # the overhead is a difference of two ~20 s times: noisy
UNREACHABLE_API = "http://127.0.0.1:9/api"  # plain runs must not talk to Prefect at all


def pipeline_config(size: str, data: str, output_dir: str) -> dict[str, Any]:
    return {
        "data": {"data": data},
        "training": TRAINING[size],
        "baselines": BASELINES[size],
        "tracking": {"experiment": "benchmark-orchestration", "output_dir": output_dir},
    }


def run_prefect(config: dict[str, Any]) -> dict[str, Any]:
    """Child side: the seasonal flow as a Prefect flow run against PREFECT_API_URL."""
    from yieldflow.config import PipelineConfig
    from yieldflow.flows.seasonal_pipeline import seasonal_pipeline

    parsed = PipelineConfig.model_validate(config)
    started = time.perf_counter()
    summary = seasonal_pipeline(parsed)
    seconds = time.perf_counter() - started
    flow_run_id = summary["prefect"]["flow_run_id"]
    return {"seconds": seconds, "flow_run_id": flow_run_id, **count_task_runs(flow_run_id)}


def run_prefect_without_heartbeats(config: dict[str, Any]) -> dict[str, Any]:
    """Child side: the Prefect flow run with PREFECT_FLOWS_HEARTBEAT_FREQUENCY off."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return run_prefect(config)


def run_plain(config: dict[str, Any]) -> dict[str, Any]:
    """Child side: the same flow body with tasks and flows called as plain functions."""
    # First, as on the Prefect side: flows/__init__.py sets an import order that matters.
    import yieldflow.flows  # noqa: F401

    # isort: split
    import prefect.artifacts
    from prefect.flows import Flow
    from prefect.logging import disable_run_logger
    from prefect.tasks import Task

    # Process-local: this child only ever runs the plain variant. Artifacts are Prefect's
    # own output, so they become no-ops; patched before the tasks import them by name.
    Task.__call__ = lambda self, *args, **kwargs: self.fn(*args, **kwargs)  # type: ignore[method-assign]
    Task.submit = lambda self, *args, **kwargs: _Done(self.fn(*args, **kwargs))  # type: ignore[method-assign]
    Flow.__call__ = lambda self, *args, **kwargs: self.fn(*args, **kwargs)  # type: ignore[method-assign]
    for name in dir(prefect.artifacts):
        if name.startswith("create_") and name.endswith("_artifact"):
            setattr(prefect.artifacts, name, lambda *args, **kwargs: None)

    from yieldflow.config import PipelineConfig
    from yieldflow.flows.seasonal_pipeline import seasonal_pipeline

    parsed = PipelineConfig.model_validate(config)
    with disable_run_logger():
        started = time.perf_counter()
        seasonal_pipeline.fn(parsed)
        seconds = time.perf_counter() - started
    return {"seconds": seconds}


class _Done:
    """A submitted task's future on the plain side: the call already happened."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


def warm_up() -> dict[str, Any]:
    """Child side: create the MLflow store and run a one-task flow against the server, so
    neither side's first measured run pays for database creation or a cold server."""
    import mlflow
    from prefect import flow, task

    mlflow.MlflowClient().search_experiments()

    @task
    def one() -> int:
        return 1

    @flow
    def warm() -> int:
        return one()

    return {"value": warm()}


def count_task_runs(flow_run_id: str, settle_s: float = 20.0) -> dict[str, Any]:
    """Task runs of the flow run and its subflow runs, read through the Prefect client.

    Task run records reach the server as events, a little after the flow returns, so the
    count is read until it stops changing.
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    with get_client(sync_client=True) as client:
        parent = UUID(flow_run_id)
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
            )
        )
        ids = [parent, *(c.id for c in children)]
        deadline = time.monotonic() + settle_s
        previous: list[str] | None = None
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200
            )
            names = sorted(r.task_key.rsplit("-", 1)[0] for r in runs)
            if names == previous or time.monotonic() > deadline:
                break
            previous = names
            time.sleep(2.0)
    by_name = Counter(names)
    return {
        "task_runs": len(names),
        "subflow_runs": len(children),
        "task_runs_by_name": dict(sorted(by_name.items())),
    }


def start_prefect_server(workdir: Path) -> tuple[Any, dict[str, str]]:
    """A local Prefect server on a free 127.0.0.1 port, and the env that points at it."""
    from tests.support.servers import ManagedProcess, free_port

    port = free_port()
    home = workdir / "prefect-home"
    home.mkdir()
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = str(Path(sys.executable).parent / "prefect")
    server = ManagedProcess(
        "prefect-server",
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        log_dir=workdir,
        env={**_base_env(), **env},
        health=f"http://127.0.0.1:{port}/api/health",
        startup_timeout=180.0,
        stop_grace=5.0,
    )
    server.start()
    return server, {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}


def run(size: str) -> dict[str, Any]:
    """Start a Prefect server, warm it up, then alternate Prefect and plain runs."""
    dataset = cached_dataset(SIZES[size])
    with tempfile.TemporaryDirectory(prefix="yieldflow-bench-orch-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        server, env = start_prefect_server(workdir)
        log(f"orchestration: Prefect server up in {time.perf_counter() - started:.1f} s")
        try:
            env = {
                **env,
                "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
                "OMP_NUM_THREADS": "1",  # see benchmarks/training.py: 2 threads measure load
            }
            config = pipeline_config(size, str(dataset.root), str(workdir / "runs"))

            def side(target: str, label: str, extra: dict[str, str]) -> Any:
                def run_side() -> dict[str, Any]:
                    value = run_in_child(
                        f"benchmarks.orchestration:{target}",
                        {"config": config},
                        env={**env, **extra},
                        cwd=workdir,
                    ).value
                    log(f"orchestration {label}: {value['seconds']:.2f} s")
                    return value

                return run_side

            refresh = {"PREFECT_TASKS_REFRESH_CACHE": "true"}
            sides = {
                "prefect": side("run_prefect", "prefect", refresh),
                "no_heartbeats": side(
                    "run_prefect_without_heartbeats", "prefect without heartbeats", refresh
                ),
                "plain": side("run_plain", "plain", {"PREFECT_API_URL": UNREACHABLE_API}),
            }

            # Untimed warm-up: creates the MLflow database and warms the Prefect server
            # (skipped at smoke size, where only the plumbing is checked, not the figure).
            if size == "full":
                run_in_child("benchmarks.orchestration:warm_up", {}, env=env, cwd=workdir)
            runs = interleaved(sides, REPEATS[size])
        finally:
            server.stop()
    prefect_s = median(r["seconds"] for r in runs["prefect"])
    plain_s = median(r["seconds"] for r in runs["plain"])
    quiet_s = median(r["seconds"] for r in runs["no_heartbeats"])
    last = runs["prefect"][-1]
    measured = {
        "farms": dataset.spec.farms,
        "rows": dataset.rows,
        "harvests": dataset.harvests,
        "training": TRAINING[size],
        "baselines": BASELINES[size],
        "repeats": REPEATS[size],
        "prefect_s": prefect_s,
        "plain_s": plain_s,
        "overhead_s": prefect_s - plain_s,
        "no_heartbeats_s": quiet_s,
        "heartbeat_s": prefect_s - quiet_s,
        "no_heartbeats_times": [r["seconds"] for r in runs["no_heartbeats"]],
        "prefect_times": [r["seconds"] for r in runs["prefect"]],
        "plain_times": [r["seconds"] for r in runs["plain"]],
        "task_runs": last["task_runs"],
        "grid_task_runs": last["task_runs_by_name"].get(GRID_TASK, 0),
        "subflow_runs": last["subflow_runs"],
        "task_runs_by_name": last["task_runs_by_name"],
    }
    return {**measured, "checks": [c.as_dict() for c in checks(measured)]}


def checks(m: dict[str, Any]) -> list[Check]:
    return [
        at_most(
            "orchestration",
            f"{m['harvests']} harvests",
            "Prefect overhead per run (s)",
            m["overhead_s"],
            OVERHEAD_TARGET_S,
            f"{m['prefect_s']:.1f} s as a flow vs {m['plain_s']:.1f} s as plain calls"
            + (
                f"; {m['heartbeat_s']:.1f} s of it waits for Prefect's heartbeat thread"
                if "heartbeat_s" in m
                else ""
            ),
        ),
        at_most(
            "orchestration",
            f"{m['harvests']} harvests",
            "task runs per flow run besides the evaluation grid (with subflows)",
            m["task_runs"] - m.get("grid_task_runs", 0),
            MAX_TASK_RUNS,
            ", ".join(f"{k} ×{v}" for k, v in m["task_runs_by_name"].items()),
        ),
    ]
