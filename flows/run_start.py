"""What every yieldflow flow does first: name the run, give it a folder, pick the dataset."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from prefect import get_run_logger
from prefect.runtime import deployment, flow_run

from yieldflow.io.workspace import RunWorkspace
from yieldflow.synthetic.default_data import dataset_for_run
from yieldflow.tracking.runs import redact_uri


@dataclass(frozen=True)
class RunStart:
    run_id: str  # the Prefect flow run id (a fresh uuid when called outside Prefect)
    workspace: RunWorkspace  # this run's own folder: concurrent runs never share paths
    data_uri: str  # the dataset asked for, or the built-in default (ad-hoc runs only)


def start_run(output_dir: str, data: str) -> RunStart:
    """The run's id, folder and dataset, logged once (credentials removed from the URI).

    A deployment run without a dataset stops here, before anything is written."""
    data_uri = dataset_for_run(data, deployment.name if deployment.id else None)
    run_id = str(flow_run.id or uuid.uuid4())
    workspace = RunWorkspace.create(output_dir, run_id)
    get_run_logger().info("Run folder %s; dataset %s", workspace.root, redact_uri(data_uri))
    return RunStart(run_id, workspace, data_uri)
