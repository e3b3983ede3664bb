"""A stage's progress reaches the Prefect UI as a progress artifact (real Prefect server)."""

from __future__ import annotations

import asyncio

from prefect import flow, task

from yieldflow.reporting.progress import track


@task(task_run_name="count-to-{n}")
def count(n: int) -> int:
    with track("counting", n, "numbers") as stage:
        for i in range(1, n + 1):
            stage.update(i)
    return n


@flow
def counting_flow(n: int) -> str:
    count(n)
    from prefect.runtime import flow_run

    return str(flow_run.id)


def test_a_flow_run_leaves_its_progress_artifact_at_100(prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = counting_flow(200)

    async def read():
        async with get_client() as client:
            runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            return await client.read_artifacts(flow_run_filter=runs)

    artifacts = [a for a in asyncio.run(read()) if a.key == "counting-progress"]
    assert len(artifacts) == 1
    assert artifacts[0].type == "progress"
    assert float(artifacts[0].data) == 100.0
    assert artifacts[0].description == "counting: numbers"
