"""Create (or update) the automation that marks flow runs Crashed when their heartbeats stop.

A worker that dies with its machine (a GPU node evicted, an OOM kill of the whole pod)
leaves its flow run "Running" forever, and the next season's schedule has nobody watching
it. Prefect sends flow run heartbeats (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, 180 s by default
in Prefect 3.8), but a self-hosted server acts on them only through an automation like this
one, from Prefect's "detect zombie flows" guide: after each heartbeat of a flow run, expect
another heartbeat or a terminal state within `within`, else set the run Crashed.

Run by deployments/create_pools.sh against PREFECT_API_URL; running it again updates the
automation of the same name instead of adding a second one.
Usage: python deployments/zombie_runs.py [--within-seconds N]
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

NAME = "yieldflow: crash flow runs whose heartbeats stopped"
MISSED_HEARTBEATS = 3  # a busy worker may miss one or two; three in a row means it is gone


def zombie_automation(within: timedelta):
    """The automation, as Prefect's guide writes it, with `within` as given."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=NAME,
        description=(
            "A flow run that sent a heartbeat and then neither another heartbeat nor a "
            f"terminal state within {within.total_seconds():g} s lost its worker."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {within.total_seconds():g} s: its worker is gone.",
            )
        ],
    )


def ensure_zombie_automation(within: timedelta):
    """Create the automation, or update the one of the same name; returns it."""
    from prefect.automations import Automation

    wanted = zombie_automation(within)
    try:
        existing = Automation.read(name=NAME)
    except ValueError:  # Prefect's "not found"
        return wanted.create()
    wanted.id = existing.id
    wanted.update()
    return wanted


def silent_seconds(within: float | None, frequency: int | None) -> float | None:
    """How long a run may stay silent: the given wait, else three heartbeat intervals;
    None when heartbeats are off and no wait was given (nothing to watch).

    A wait of one interval or less would crash healthy runs between their heartbeats, so
    it is refused (ValueError, with the reason).
    """
    if within is None:
        return None if frequency is None else MISSED_HEARTBEATS * frequency
    if within <= 0:
        raise ValueError(f"--within-seconds must be positive, got {within:g}")
    if frequency is not None and within <= frequency:
        raise ValueError(
            f"--within-seconds {within:g} is not longer than the heartbeat interval "
            f"({frequency} s, PREFECT_FLOWS_HEARTBEAT_FREQUENCY): healthy runs would be crashed"
        )
    return within


def main(argv: list[str] | None = None) -> int:
    from prefect.settings import get_current_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--within-seconds",
        type=float,
        help=f"how long a run may stay silent (default: {MISSED_HEARTBEATS} heartbeat intervals)",
    )
    args = parser.parse_args(argv)
    try:
        seconds = silent_seconds(
            args.within_seconds, get_current_settings().flows.heartbeat_frequency
        )
    except ValueError as error:
        parser.error(str(error))
    if seconds is None:
        print("flow run heartbeats are off (PREFECT_FLOWS_HEARTBEAT_FREQUENCY): nothing to watch")
        return 0
    automation = ensure_zombie_automation(timedelta(seconds=seconds))
    print(f"automation {automation.name!r}: runs silent for {seconds:g} s are marked Crashed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
