"""Create (or update) the three automations that send yieldflow's messages.

A seasonal run happens twice a year while nobody watches the Prefect UI, so three things
are sent to a notification block of your choice (a webhook, Slack, e-mail...):

- a yieldflow deployment run (seasonal-retrain, forecast, data-check) ended Failed or
  Crashed: its name, its one-line error and a link to it (Prefect's own state events);
- seasonal-retrain moved the champion alias (the `yieldflow.champion.moved` event);
- the backtest crossed a configured threshold: interval coverage or error against the
  simple baselines (the `yieldflow.forecast.check-failed` event; thresholds in the run's
  `alerts` parameters).

The pipeline emits the events (tasks/alerts.py); the message texts are in
yieldflow/reporting/alerts.py. Running this again updates the automations of the same names.

Usage: python deployments/alerts.py [--block SLUG/NAME | --webhook-url URL]
  --block         an existing notification block, e.g. slack-webhook/yieldflow-alerts
  --webhook-url   create or update the Custom Webhook block custom-webhook/yieldflow-alerts
                  that POSTs {"text": "<subject>\\n\\n<body>"} to URL (kept in the block's
                  secrets); also from YIELDFLOW_ALERTS_WEBHOOK_URL
Without either, the block custom-webhook/yieldflow-alerts is used if it exists; if not,
nothing is installed and the command says so (exit 0, so a stack without alerts still
comes up; YIELDFLOW_ALERTS_BLOCK=SLUG/NAME makes a missing block an error).
"""

from __future__ import annotations

import argparse
import os
import sys
from uuid import UUID

from yieldflow.reporting.alerts import (
    CHAMPION_MOVED,
    EVENT_BODY,
    EVENT_SUBJECT,
    FAILED_STATES,
    FAILURE_BODY,
    FAILURE_SUBJECT,
    FORECAST_CHECK_FAILED,
    MODEL_RESOURCE_PREFIX,
    WATCHED_FLOWS,
    WATCHED_TAG,
)

DEFAULT_BLOCK = "custom-webhook/yieldflow-alerts"
RUN_FAILED = "yieldflow: tell when a run fails"
CHAMPION_CHANGED = "yieldflow: tell when the champion model changes"
FORECAST_CHECK = "yieldflow: tell when forecasts fail their check"
NAMES = (RUN_FAILED, CHAMPION_CHANGED, FORECAST_CHECK)


class BlockNotFound(LookupError):
    pass


def alert_automations(block_document_id: UUID) -> list:
    """The three automations, each sending to the given notification block."""
    from prefect.automations import Automation
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    def notify(subject: str, body: str) -> list[SendNotification]:
        return [SendNotification(block_document_id=block_document_id, subject=subject, body=body)]

    def on(events: set[str], match: dict, match_related=None) -> EventTrigger:
        return EventTrigger(
            expect=events,
            match=ResourceSpecification(match),
            match_related=match_related or ResourceSpecification({}),
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        )

    return [
        Automation(
            name=RUN_FAILED,
            description="A yieldflow deployment run ended Failed or Crashed: its name, "
            "error and a link (train-model's failures arrive as its parent's).",
            trigger=on(
                {f"prefect.flow-run.{state}" for state in FAILED_STATES},
                {"prefect.resource.id": "prefect.flow-run.*"},
                [
                    ResourceSpecification({"prefect.resource.id": f"prefect.tag.{WATCHED_TAG}"}),
                    ResourceSpecification(
                        {"prefect.resource.role": "flow", "prefect.resource.name": WATCHED_FLOWS}
                    ),
                ],
            ),
            actions=notify(FAILURE_SUBJECT, FAILURE_BODY),
        ),
        Automation(
            name=CHAMPION_CHANGED,
            description="seasonal-retrain moved the champion alias of a registered model.",
            trigger=on({CHAMPION_MOVED}, {"prefect.resource.id": f"{MODEL_RESOURCE_PREFIX}*"}),
            actions=notify(EVENT_SUBJECT, EVENT_BODY),
        ),
        Automation(
            name=FORECAST_CHECK,
            description="The backtest's interval coverage or error against the simple "
            "baselines crossed the run's alert thresholds.",
            trigger=on(
                {FORECAST_CHECK_FAILED}, {"prefect.resource.id": f"{MODEL_RESOURCE_PREFIX}*"}
            ),
            actions=notify(EVENT_SUBJECT, EVENT_BODY),
        ),
    ]


def ensure_automation(wanted):
    """Create the automation, or update the one of the same name; returns it."""
    from prefect.automations import Automation

    try:
        existing = Automation.read(name=wanted.name)
    except ValueError:  # Prefect's "not found"
        return wanted.create()
    wanted.id = existing.id
    wanted.update()
    return wanted


def webhook_block(url: str, reference: str = DEFAULT_BLOCK) -> UUID:
    """Create or update a Custom Webhook block posting {"text": subject + body} to url;
    the URL (often a secret in itself) is kept in the block's secrets, not in its fields."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name="yieldflow alerts",
        url="{{webhook_url}}",
        json_data={"text": "{{subject}}\n\n{{body}}"},
        secrets={"webhook_url": url},
    )
    return block.save(reference.split("/", 1)[1], overwrite=True)


def block_id(reference: str) -> UUID:
    """The id of the notification block SLUG/NAME; BlockNotFound when there is none."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    slug, _, name = reference.partition("/")
    if not slug or not name:
        raise BlockNotFound(f"a block is named SLUG/NAME (e.g. {DEFAULT_BLOCK}), not {reference!r}")
    with get_client(sync_client=True) as client:
        try:
            return client.read_block_document_by_name(name, block_type_slug=slug).id
        except ObjectNotFound:
            raise BlockNotFound(f"no notification block {reference}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--block", help=f"SLUG/NAME of a notification block ({DEFAULT_BLOCK})")
    source.add_argument("--webhook-url", help="create or update the block for this webhook URL")
    args = parser.parse_args(argv)
    webhook_url = args.webhook_url or (
        None if args.block else os.environ.get("YIELDFLOW_ALERTS_WEBHOOK_URL")
    )
    reference = args.block or os.environ.get("YIELDFLOW_ALERTS_BLOCK")
    if webhook_url:
        target, where = webhook_block(webhook_url), DEFAULT_BLOCK
    else:
        try:
            target, where = block_id(reference or DEFAULT_BLOCK), reference or DEFAULT_BLOCK
        except BlockNotFound as error:
            if reference:
                parser.error(str(error))
            print(
                f"alerts not installed: {error}; run deployments/alerts.py --webhook-url URL "
                "or --block SLUG/NAME (README: Alerts)"
            )
            return 0
    for automation in alert_automations(target):
        ensure_automation(automation)
    print(f"automations {', '.join(repr(n) for n in NAMES)}: messages go to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
