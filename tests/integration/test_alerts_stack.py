"""The alerts on the real stack: a Prefect server, an MLflow server and both work pools'
workers started by the test on 127.0.0.1, prefect.yaml deployed as written, the
automations installed by deployments/create_pools.sh, and a tiny HTTP receiver standing in
for the webhook the messages go to. Nothing is mocked.

- a deployment run without the dataset variable fails at once: exactly one message;
- with the variables set and deployed again, the deployment as written (no parameters)
  trains on the variable's dataset and moves the champion: exactly one message;
- a successful run that changes nothing (no registration, no backtest): no message;
- a backtest below the coverage threshold: exactly one message. The pipeline does not
  measure interval coverage yet (the forecast-honesty work, issue 20, adds
  summary["backtest"]), so a flow run on the same server emits the event through
  tasks/alerts.py from a summary whose backtest the test writes (coverage 11 of 20).

"Exactly one" means one distinct message; an identical re-delivery by the server is told
apart in AlertStack.only. Set YIELDFLOW_ALERTS_CAPTURE=FILE to keep the messages the
receiver got (the README's examples come from there).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.data import backtest
from tests.support.servers import (
    WebhookReceiver,
    free_ports,
    mlflow_server,
    prefect_server,
    prefect_worker,
    stack_env,
)
from tests.support.stack_fixtures import BIN, REPO

SEASONAL = "seasonal-yield-pipeline/seasonal-retrain"
RUN_FOLDERS = REPO / "yieldflow-runs"  # the deployment's default output_dir, in its cwd


@dataclass
class AlertStack:
    env: dict[str, str]
    logs: Path
    receiver: WebhookReceiver
    ui: str  # the Prefect UI's base URL, which the messages link to
    pools_output: str
    run_ids: list[str] = field(default_factory=list)

    def prefect(self, *args: str, timeout: int = 180) -> str:
        done = subprocess.run(
            [str(BIN / "prefect"), *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"prefect {args} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def client_call(self, call):
        """Run `await call(client)` with a client pointed at this stack's server."""
        from prefect.client.orchestration import PrefectClient

        async def run():
            async with PrefectClient(self.env["PREFECT_API_URL"]) as client:
                return await call(client)

        return asyncio.run(run())

    def run_deployment(self, parameters: dict[str, Any] | None = None, timeout: float = 600):
        """Start seasonal-retrain (parameters as given, else the deployment's own) and
        wait for its final state; returns the flow run."""

        async def call(client):
            deployment = await client.read_deployment_by_name(SEASONAL)
            run = await client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters or {}
            )
            self.run_ids.append(str(run.id))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                run = await client.read_flow_run(run.id)
                if run.state and run.state.is_final():
                    break
                await asyncio.sleep(1)
            return run

        return self.client_call(call)

    def messages_about(self, run_id: str) -> list[str]:
        return [m["text"] for m in self.receiver.messages() if run_id in m["text"]]

    def only(self, messages: list[str], context: list[str] | None = None) -> str:
        """The one message; fails showing every message when there are none or several.

        Prefect's server delivers at least once: its in-memory broker redelivers an event
        (or a triggered action) whose handler raised, and on SQLite under load that can be
        "database is locked" after the notification went out. An identical copy is accepted
        only when the server log shows that error (a duplicate was seen once, in the full
        integration suite on the loaded 2-core machine); different messages always fail."""
        shown = json.dumps(context or messages, indent=1)
        assert messages and len(set(messages)) == 1, shown
        if len(messages) > 1:
            server_log = (self.logs / "prefect-server.log").read_text(errors="replace")
            assert "database is locked" in server_log, shown
            warnings.warn(
                f"{len(messages)} identical deliveries after a SQLite lock error", stacklevel=2
            )
        return messages[0]

    def wait_for_messages(self, run_id: str, settle: float = 10.0) -> list[str]:
        """The messages that mention the run, once the first has come and `settle` more
        seconds passed (a duplicate would have arrived by then)."""
        self.receiver.wait_for(lambda m: run_id in m["text"])
        time.sleep(settle)
        return self.messages_about(run_id)


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory) -> AlertStack:
    logs = tmp_path_factory.mktemp("alert-stack")
    prefect_port, mlflow_port = free_ports(2)
    env = stack_env(logs, prefect_port, f"http://127.0.0.1:{mlflow_port}")
    processes = [
        prefect_server(prefect_port, logs, env),
        mlflow_server(mlflow_port, logs, env, artifacts=str(logs / "mlflow-artifacts")),
    ]
    with WebhookReceiver() as receiver:
        stack = None
        try:
            for process in processes:
                process.start()
            pools = subprocess.run(
                [str(REPO / "deployments" / "create_pools.sh")],
                cwd=REPO,
                env={
                    **env,
                    "PREFECT": str(BIN / "prefect"),
                    "YIELDFLOW_ALERTS_WEBHOOK_URL": receiver.url,
                },
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert pools.returncode == 0, pools.stdout + pools.stderr
            stack = AlertStack(
                env, logs, receiver, f"http://127.0.0.1:{prefect_port}", pools.stdout
            )
            stack.prefect("--no-prompt", "deploy", "--all")  # no variables set yet
            for pool in ("cpu", "gpu"):
                processes.append(prefect_worker(pool, logs, env).start())
            yield stack
        finally:
            for process in reversed(processes):
                process.stop()
            if stack is not None:
                for run_id in stack.run_ids:  # written by runs with the default output_dir
                    shutil.rmtree(RUN_FOLDERS / run_id, ignore_errors=True)
            captured = json.dumps(receiver.messages(), indent=2)
            (logs / "messages.json").write_text(captured)
            if os.environ.get("YIELDFLOW_ALERTS_CAPTURE"):
                Path(os.environ["YIELDFLOW_ALERTS_CAPTURE"]).write_text(captured)


def test_installing_again_updates_the_three_automations_and_hides_the_url(alert_stack):
    from tests.support.stack_fixtures import deployment_script

    alerts = deployment_script("alerts")
    assert "messages go to custom-webhook/yieldflow-alerts" in alert_stack.pools_output
    again = subprocess.run(
        [str(BIN / "python"), str(REPO / "deployments" / "alerts.py")],
        cwd=REPO,
        env=alert_stack.env,  # no URL this time: the block made by create_pools.sh is found
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr[-2000:]

    async def read(client):
        automations = await client.read_automations()
        block = await client.read_block_document_by_name(
            "yieldflow-alerts", block_type_slug="custom-webhook", include_secrets=False
        )
        return automations, block

    automations, block = alert_stack.client_call(read)
    names = [a.name for a in automations]
    for name in alerts.NAMES:
        assert names.count(name) == 1, names  # updated, not added
    # the webhook URL lives in the block's secrets: the API shows it obfuscated
    assert alert_stack.receiver.url not in json.dumps(block.data, default=str)


def test_a_deployment_without_the_dataset_variable_fails_at_once_with_one_message(alert_stack):
    async def parameters(client):
        return (await client.read_deployment_by_name(SEASONAL)).parameters

    assert alert_stack.client_call(parameters) == {
        "config": {"data": {"data": ""}, "orchestration": {"shared_storage": ""}}
    }
    started = time.monotonic()
    run = alert_stack.run_deployment(timeout=300)
    assert run.state.type.value == "FAILED", run.state
    message = run.state.message or ""
    assert "\n" not in message
    assert "DatasetNotConfiguredError: the deployment seasonal-retrain has no dataset" in message
    assert "prefect variable set yieldflow_dataset" in message
    assert not (RUN_FOLDERS / str(run.id)).exists()  # stopped before writing anything
    assert time.monotonic() - started < 120

    text = alert_stack.only(alert_stack.wait_for_messages(str(run.id)))
    lines = text.splitlines()
    assert lines[0] == f"yieldflow: seasonal-retrain run {run.name} failed"
    assert lines[2].startswith(f"The yieldflow run {run.name} (seasonal-retrain) ended Failed at")
    assert lines[3].startswith("Error: Flow run encountered an exception: ")
    assert "DatasetNotConfiguredError: the deployment seasonal-retrain has no dataset" in lines[3]
    assert lines[-1] == f"Run: {alert_stack.ui}/runs/flow-run/{run.id}"


def test_the_deployment_as_written_trains_on_the_variables_and_tells_of_the_new_champion(
    alert_stack, small_dataset
):
    shared = alert_stack.logs / "shared"
    alert_stack.prefect("variable", "set", "yieldflow_dataset", str(small_dataset))
    alert_stack.prefect("variable", "set", "yieldflow_shared_storage", str(shared))
    alert_stack.prefect("--no-prompt", "deploy", "--all")

    async def read(client):
        return {d.name: d.parameters for d in await client.read_deployments() if d.parameters}

    parameters = alert_stack.client_call(read)
    assert parameters["seasonal-retrain"] == {
        "config": {
            "data": {"data": str(small_dataset)},
            "orchestration": {"shared_storage": str(shared)},
        }
    }
    assert parameters["forecast"] == {"config": {"data": str(small_dataset)}}

    run = alert_stack.run_deployment()  # no parameters: the deployment's own
    worker_logs = "".join(p.read_text() for p in alert_stack.logs.glob("worker-*.log"))
    assert run.state.is_completed(), f"{run.state}\n{worker_logs[-4000:]}"
    summary = json.loads((RUN_FOLDERS / str(run.id) / "summary.json").read_text())
    assert summary["data"]["harvests_used"] <= 20  # the 5-farm test data, not the 48 demo
    assert any(shared.rglob("features.parquet"))  # the shared-storage variable was used
    champion = summary["champion"]
    assert champion["alias_moved"] and champion["version"] == 1

    messages = alert_stack.wait_for_messages(str(run.id))
    # Once the pipeline measures its backtest (issue 20) this run may also fail the forecast
    # check on the 5-farm data: that message may come too, and no other.
    text = alert_stack.only(
        [m for m in messages if m.startswith("yieldflow: new champion")], messages
    )
    others = [m for m in messages if m != text]  # identical copies: see only()
    assert all(m.startswith("yieldflow: forecasts need a look") for m in others), others
    lines = text.splitlines()
    assert lines[0] == "yieldflow: new champion yield model, yieldflow-yield version 1"
    assert lines[2] == (
        "The seasonal retrain on the harvests of 2021-2024 changed the model behind the "
        "yield forecasts."
    )
    assert lines[3].startswith("Now the champion: yieldflow-yield version 1 (")
    assert lines[4].startswith(f"Why: {champion['model']} becomes champion")
    assert lines[-1] == f"Run: {alert_stack.ui}/runs/flow-run/{run.id}"


def test_a_successful_run_that_changes_nothing_sends_nothing(alert_stack, small_dataset):
    run = alert_stack.run_deployment(
        {
            "config": {
                "data": {"data": str(small_dataset)},
                "training": {"max_epochs": 60, "patience": 20, "device": "cpu"},
                "baselines": {"rf_n_estimators": 30},
                "evaluation": {"cross_validate": False},
                "champion": {"register_champion": False},
                "tracking": {"output_dir": str(alert_stack.logs / "runs")},
                "orchestration": {"train_on": "in-process"},
            }
        }
    )
    assert run.state.is_completed(), run.state
    time.sleep(20)  # longer than the champion message took to arrive above
    assert alert_stack.messages_about(str(run.id)) == []


PROBE = """
import json, sys
from prefect import flow
from yieldflow.tasks.alerts import publish_alerts
from yieldflow.config import PipelineConfig

@flow(name="forecast-check-probe")
def probe(summary: dict) -> str:
    from prefect.runtime import flow_run
    publish_alerts(summary, PipelineConfig())
    return str(flow_run.id)

print(probe(json.loads(sys.argv[1])))
"""


def test_a_backtest_below_the_coverage_threshold_sends_one_message(alert_stack):
    summary = {
        "data": {"seasons": {"train": [2021, 2022], "val": [2023], "test": [2024]}},
        "champion": {
            "model_name": "yieldflow-yield",
            "version": 1,
            "model": "random_forest",
            "alias_moved": False,
            "note": "champion kept",
        },
        "backtest": backtest(interval_coverage=0.55, covered=11),
    }
    done = subprocess.run(
        [str(BIN / "python"), "-c", PROBE, json.dumps(summary)],
        cwd=REPO,
        env=alert_stack.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    alert_stack.run_ids.append(run_id)

    text = alert_stack.only(alert_stack.wait_for_messages(run_id))
    lines = text.splitlines()
    assert lines[0] == (
        "yieldflow: forecasts need a look (intervals too narrow), yieldflow-yield version 1"
    )
    assert lines[3] == (
        "- Only 11 of 20 held-out harvests (55%) fell inside the 80% interval in the backtest "
        "of 2023-2024; the alert threshold is 70%. The forecast ranges are narrower than the "
        "real spread of yields."
    )
    assert lines[-1] == f"Run: {alert_stack.ui}/runs/flow-run/{run_id}"
