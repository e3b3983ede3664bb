"""When a new model may take the @champion alias: only when it is at least as good as the
current champion on the same evaluation data."""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class ChampionDecision:
    move: bool
    reason: str


def decide_champion(
    candidate_name: str, candidate_rmse: float, champion_rmse: float | None
) -> ChampionDecision:
    """Compare on this run's test seasons (neither model trained on them).

    ``champion_rmse`` is None when there is no champion yet, or it cannot be scored on
    today's features (different signature); then the candidate takes the alias.
    """
    if champion_rmse is None:
        return ChampionDecision(True, f"{candidate_name} becomes champion: no comparable champion")
    if candidate_rmse <= champion_rmse:
        return ChampionDecision(
            True,
            f"{candidate_name} becomes champion: test RMSE {candidate_rmse:.3f} t/ha is at "
            f"least as good as the current champion's {champion_rmse:.3f} t/ha",
        )
    return ChampionDecision(
        False,
        f"champion kept: {candidate_name}'s test RMSE {candidate_rmse:.3f} t/ha is worse than "
        f"the current champion's {champion_rmse:.3f} t/ha on the same seasons",
    )
