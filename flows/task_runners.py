"""Where the independent task runs of a flow execute: here, or on a Dask cluster.

The flows do not change with the runner; a run picks it from
``orchestration.task_runner`` when it starts (a deployment re-imports its flow, so the
runner cannot be fixed at deploy time)."""

from __future__ import annotations

import os

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

LOCAL = "local"
DASK_ENV = "DASK_SCHEDULER_ADDRESS"


def dask_address(setting: str) -> str | None:
    """tcp://host:port for a Dask setting, None for the local runner."""
    if setting == LOCAL:
        return None
    if setting == "dask":
        address = os.environ.get(DASK_ENV)
        if not address:
            raise ValueError(f"task_runner 'dask' needs {DASK_ENV} (tcp://host:port)")
        return address
    return "tcp://" + setting.removeprefix("dask://").removeprefix("tcp://")


def task_runner_for(setting: str) -> TaskRunner:
    """One thread here (training seeds global RNGs, so one model at a time keeps runs
    reproducible), or the Dask scheduler at the configured address."""
    address = dask_address(setting)
    if address is None:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address)
