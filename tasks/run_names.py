"""Flow and task run names that say what a run is (season, model), not generated names."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from uuid import UUID

logger = logging.getLogger(__name__)

SEASONAL_PREFIX = "seasonal-"
_SEASONAL_STAMP = re.compile(rf"{SEASONAL_PREFIX}(\d{{8}}-\d{{6}})")


def seasons_label(seasons: Iterable[int]) -> str:
    """2022 or 2022-2024 (first to last): short enough for a run name."""
    ordered = sorted(int(s) for s in seasons)
    if not ordered:
        return "none"
    return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"


def seasonal_name_with_season(name: str, latest_season: int) -> str | None:
    """seasonal-20261126-115138 -> seasonal-2025-20261126-115138 (the latest season is
    known only once the data is read); None for a name a person chose."""
    match = _SEASONAL_STAMP.fullmatch(name)
    return f"{SEASONAL_PREFIX}{latest_season}-{match.group(1)}" if match else None


def fit_baselines_run_name() -> str:
    """Task run name of fit-baselines: the training seasons it fits on."""
    from prefect.runtime import task_run

    data = task_run.parameters.get("data")
    split = getattr(data, "split", None)
    return f"fit-baselines-on-{seasons_label(split.train)}" if split else "fit-baselines"


def name_seasonal_run(seasons: Iterable[int]) -> None:
    """Add the latest of ``seasons`` to this seasonal flow run's name (in the Prefect UI).

    Cosmetic: outside a run, or when the API refuses, the name stays as it was.
    """
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    seasons = list(seasons)
    if not flow_run.id or not seasons:
        return
    name = seasonal_name_with_season(flow_run.name or "", max(seasons))
    if name is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(flow_run.id), name=name)
    except Exception as error:  # the run goes on under its first name
        logger.warning("flow run not renamed to %s: %s", name, error)
