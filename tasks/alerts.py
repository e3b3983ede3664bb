"""Prefect task: emit the pipeline's alert events (champion moved, forecast check failed).

The automations installed by deployments/alerts.py match these events and send the
messages; yieldflow/reporting/alerts.py decides what there is to say. Without a Prefect server that
keeps events (ad-hoc runs in ephemeral mode) the events go nowhere, which is harmless.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from yieldflow.config import PipelineConfig
from yieldflow.reporting.alerts import run_alert_events


@task(name="publish-alerts", task_run_name="publish-alerts", cache_policy=NO_CACHE)
def publish_alerts(summary: dict[str, Any], config: PipelineConfig) -> list[str]:
    """Emit one event per thing worth telling after this run; returns their names."""
    logger = get_run_logger()
    events = run_alert_events(summary, config.alerts, config.champion.model_name)
    for event in events:
        emit_event(event=event.name, resource=event.resource, payload=event.payload)
        logger.info("Alert event %s: %s", event.name, event.subject)
    if not events:
        logger.info("Nothing to alert: champion unchanged, backtest within its thresholds")
    return [event.name for event in events]
