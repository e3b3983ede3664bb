"""When a new model may take the @champion alias.

The gate compares on the recommendation's own metric: the cross-validated NRMSE of this
run's season-wise folds. The current champion's recipe (its model kind) was evaluated on
the same folds in this run, so the two numbers are comparable; a newer fit of an equally
good recipe replaces the old one, since it has learnt from more seasons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CHAMPION_ALIAS = "champion"
# The candidate may be this much worse (relative CV NRMSE) than the champion's recipe and
# still take the alias: with a dozen harvests a fold, smaller differences are noise, and
# the candidate has seen the newest season.
TOLERANCE = 0.02


@dataclass(frozen=True)
class Incumbent:
    version: int
    model: str
    schema: str  # "" for a version registered before schemas were recorded


@dataclass(frozen=True)
class ChampionDecision:
    move: bool
    reason: str
    schema_changed: bool = False


def forecaster_schema(features: Sequence[str], points: Sequence[float], target: str) -> str:
    """What a forecast must hand the champion, as a short stable id."""
    text = f"{','.join(features)}|{','.join(f'{p:g}' for p in points)}|{target}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def decide_champion(
    candidate: str,
    cv_nrmse: Mapping[str, float],
    incumbent: Incumbent | None,
    schema: str,
    tolerance: float = TOLERANCE,
) -> ChampionDecision:
    """Move the alias to ``candidate`` unless it is worse than the champion's recipe on
    this run's folds by more than ``tolerance``, or the champion takes other inputs."""
    if incumbent is None:
        return ChampionDecision(True, f"{candidate} becomes champion: there was none")
    if incumbent.schema != schema:
        return ChampionDecision(
            False,
            f"champion kept: version {incumbent.version} takes other inputs (schema "
            f"{incumbent.schema or 'unrecorded'}, this run {schema}), so the two cannot be "
            "compared; not promoted automatically (set the alias by hand in the MLflow "
            "registry once the new version is checked)",
            schema_changed=True,
        )
    mine = cv_nrmse[candidate]
    theirs = cv_nrmse.get(incumbent.model)
    if theirs is None:
        return ChampionDecision(
            False,
            f"champion kept: its model ({incumbent.model}) was not cross-validated in this "
            "run, so the two cannot be compared",
        )
    numbers = (
        f"cross-validated NRMSE {mine:.1%} against {theirs:.1%} for the champion's "
        f"{incumbent.model} on the same folds (tolerance {tolerance:.0%})"
    )
    if mine <= theirs * (1 + tolerance):
        return ChampionDecision(True, f"{candidate} becomes champion: {numbers}")
    return ChampionDecision(False, f"champion kept: {candidate} is worse, {numbers}")
