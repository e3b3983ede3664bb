"""The production path against real servers: SeaweedFS (S3), a Prefect server, an MLflow
server with S3 artifacts, both work pools with real workers, `prefect deploy --all`, and
the seasonal deployment triggered on an S3 dataset. Nothing here is mocked."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.stack_fixtures import (
    ACCESS_KEY,
    ARTIFACT_BUCKET,
    BIN,
    DATA_BUCKET,
    EXPERIMENT,
    REPO,
    SECRET_KEY,
    TRACKING_PASSWORD,
    deployment_script,
)

PLANTED = (ACCESS_KEY, SECRET_KEY, TRACKING_PASSWORD)

# The `stack` and `seasonal_run` fixtures are session-scoped (tests/stack_fixtures.py, via
# conftest.py): one stack and one seasonal run, shared with tests/integration/test_browser.py.


def test_parent_and_child_ran_on_their_own_pools(seasonal_run):
    runs, _, _, deployments, _, _ = seasonal_run
    by_deployment = {deployments.get(r.deployment_id): r for r in runs if r.deployment_id}
    parent, child = by_deployment["seasonal-retrain"], by_deployment["train-model"]
    assert parent.state.is_completed() and child.state.is_completed()
    assert parent.work_pool_name == "cpu" and child.work_pool_name == "gpu"
    assert child.parent_task_run_id is not None  # started by the parent via run_deployment


def test_worker_runs_sent_heartbeats(seasonal_run):
    """Every deployment run, parent and child, sent flow run heartbeats from its worker's
    process, so the automation of deployments/zombie_runs.py has something to watch."""
    runs, _, _, _, env, _ = seasonal_run
    expected = {f"prefect.flow-run.{r.id}" for r in runs if r.deployment_id}
    body = {
        "filter": {
            "event": {"name": ["prefect.flow-run.heartbeat"]},
            "resource": {"id": sorted(expected)},
        },
        "limit": 50,  # the server's page size; a run sends one heartbeat per 180 s
    }
    seen: set[str] = set()
    for _ in range(20):  # the server persists events in the background
        response = httpx.post(f"{env['PREFECT_API_URL']}/events/filter", json=body, timeout=30)
        response.raise_for_status()
        seen = {e["resource"]["prefect.resource.id"] for e in response.json()["events"]}
        if expected <= seen:
            break
        time.sleep(0.5)
    assert len(expected) >= 4 and expected <= seen, sorted(expected - seen)


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


def test_two_runs_at_once_complete_apart(seasonal_run, seaweedfs):
    """seasonal_run starts two runs of the deployment at once on the same data."""
    from mlflow.tracking import MlflowClient

    runs, _, _, deployments, env, logs = seasonal_run
    parents = [r for r in runs if deployments.get(r.deployment_id) == "seasonal-retrain"]
    children = [r for r in runs if deployments.get(r.deployment_id) == "train-model"]
    assert len(parents) == 2 and len(children) == 2
    assert all(r.state.is_completed() for r in parents + children)
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    summaries = []
    for parent in parents:
        folder = logs / "runs" / str(parent.id)  # run-scoped: <output_dir>/<flow run id>
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["prefect"]["flow_run_id"] == str(parent.id)
        assert summary["outputs"]["run_folder"] == str(folder)
        assert (folder / "report.md").is_file() and (folder / "model").is_dir()
        shared = seaweedfs.client().list_objects_v2(Bucket=DATA_BUCKET, Prefix=f"runs/{parent.id}/")
        assert [i["Key"] for i in shared.get("Contents", [])] == [
            f"runs/{parent.id}/features.parquet"
        ]
        # this run's MLflow runs: one parent, one child per model, all tagged with it
        tagged = client.search_runs(
            [experiment_id], f"tags.`yieldflow.pipeline_run_id` = '{parent.id}'"
        )
        (mlflow_parent,) = [r for r in tagged if "yieldflow.model" not in r.data.tags]
        assert mlflow_parent.info.status == "FINISHED"
        for name, model in summary["models"].items():
            run = client.get_run(model["mlflow_run_id"])
            assert run.data.tags["mlflow.parentRunId"] == mlflow_parent.info.run_id, name
            assert run.data.tags["yieldflow.model"] == name
            assert run.data.metrics["test_rmse"] == pytest.approx(model["test_rmse"])
        summaries.append(summary)
    first, second = summaries
    assert first["mlflow"]["tracking_uri"] == second["mlflow"]["tracking_uri"]
    assert first["data"] == second["data"]  # same data, so the same accounting
    for name in ("random_forest", "linear", "mean_baseline"):  # deterministic given the seed
        assert first["models"][name]["test_rmse"] == second["models"][name]["test_rmse"]


def test_no_credential_appears_in_logs_artifacts_or_mlflow(seasonal_run, seaweedfs):
    from mlflow.tracking import MlflowClient

    runs, artifacts, run_logs, _, env, logs = seasonal_run
    assert TRACKING_PASSWORD in env["MLFLOW_TRACKING_URI"]  # the runs used it
    texts = [log.message for log in run_logs]
    texts += [str(a.data) for a in artifacts]
    texts += [json.dumps(r.parameters, default=str) for r in runs]
    texts += [p.read_text(errors="replace") for p in logs.glob("*.log")]
    texts += [
        p.read_text(errors="replace")
        for p in (logs / "runs").rglob("*")
        if p.is_file() and p.suffix in {".json", ".md", ".csv"}
    ]
    # Prefect's persisted results (the flows' return values, cached task results)
    texts += [
        p.read_bytes().decode(errors="replace")
        for p in (logs / "prefect-home").rglob("*")
        if p.is_file() and "storage" in p.parts
    ]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    for run in client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id]):
        texts.append(json.dumps(run.data.params) + json.dumps(run.data.tags))
    # every MLflow artifact (reports, summaries, models) as stored in the bucket
    s3 = seaweedfs.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARTIFACT_BUCKET):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=ARTIFACT_BUCKET, Key=item["Key"])["Body"].read()
            texts.append(body.decode(errors="replace"))
    assert len(texts) > 50
    assert any("summary.json" in text or '"flow_run_id"' in text for text in texts)
    for text in texts:
        for planted in PLANTED:
            assert planted not in text


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
    for planted in PLANTED:
        assert planted not in done.stderr + done.stdout


def test_a_run_whose_heartbeats_stop_is_marked_crashed(stack):
    """create_pools.sh set up the zombie automation; running its script again updates it.
    The same automation, 10 s instead of three heartbeat intervals and watching only two
    probe runs, crashes the run that fell silent and leaves the one that completed."""
    from prefect.settings import get_current_settings

    env, _ = stack
    zombie_runs = deployment_script("zombie_runs")
    again = subprocess.run(
        [str(BIN / "python"), str(REPO / "deployments" / "zombie_runs.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    frequency = get_current_settings().flows.heartbeat_frequency  # the stack sets none
    expected = timedelta(seconds=zombie_runs.MISSED_HEARTBEATS * frequency)
    silent, done = asyncio.run(_zombie_probe(env["PREFECT_API_URL"], zombie_runs, expected))
    assert silent.type.value == "CRASHED", silent
    assert "heartbeat" in (silent.message or ""), silent.message
    assert done.type.value == "COMPLETED", done


async def _zombie_probe(api: str, zombie_runs, expected: timedelta):
    """(state of the run that sent one heartbeat and went silent, state of the run that
    completed after its heartbeat), once the first has left Running or after 120 s."""
    from prefect import flow
    from prefect.client.orchestration import PrefectClient
    from prefect.events.schemas.automations import AutomationCore
    from prefect.events.schemas.events import ResourceSpecification
    from prefect.states import Completed, Running

    @flow(name="zombie-probe")
    def probe() -> None: ...

    async with PrefectClient(api) as client:
        installed = await client.read_automations_by_name(zombie_runs.NAME)
        assert len(installed) == 1, installed  # updated by the second run, not added
        assert installed[0].trigger.within == expected, installed[0].trigger
        silent = await client.create_flow_run(probe, state=Running())
        done = await client.create_flow_run(probe, state=Running())
        watcher = zombie_runs.zombie_automation(timedelta(seconds=10))
        watcher.name = f"test probe {uuid.uuid4().hex[:8]}"
        runs = [f"prefect.flow-run.{run.id}" for run in (silent, done)]
        watcher.trigger.match = ResourceSpecification({"prefect.resource.id": runs})
        watcher_id = await client.create_automation(
            AutomationCore.model_validate(watcher.model_dump(exclude={"id"}))
        )
        try:
            await asyncio.sleep(1)  # loaded by the server's trigger service
            beats = [
                {
                    "id": str(uuid.uuid4()),
                    "occurred": datetime.now(UTC).isoformat(),
                    "event": "prefect.flow-run.heartbeat",
                    "resource": {"prefect.resource.id": resource},
                    "related": [],
                    "payload": {},
                }
                for resource in runs
            ]
            async with httpx.AsyncClient() as http:
                (await http.post(f"{api}/events", json=beats)).raise_for_status()
            await client.set_flow_run_state(done.id, Completed())
            started = time.monotonic()
            while time.monotonic() - started < 120:
                state = (await client.read_flow_run(silent.id)).state
                if state.type.value != "RUNNING":
                    break
                await asyncio.sleep(1)
            return state, (await client.read_flow_run(done.id)).state
        finally:
            await client.delete_automation(watcher_id)
