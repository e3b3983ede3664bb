"""Justify the early-stopping patience from the recorded validation curve, not by assertion.

The MLP is also trained once for all ``max_epochs`` with the same seed; because training is
deterministic, that full curve starts exactly like the early-stopped one, so replaying
early stopping on it shows where each patience value would have stopped and what
validation loss it would have kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from yieldflow.ml.early_stopping import PatienceOutcome, replay_patience

PATIENCE_CANDIDATES: tuple[int, ...] = (5, 10, 20, 40, 80)
# A patience is "enough" when it keeps a validation loss within this fraction of the best
# any candidate keeps: waiting longer for a smaller gain is fitting noise on small data.
ENOUGH_WITHIN = 0.01


@dataclass(frozen=True)
class PatienceStudy:
    chosen: int
    outcomes: list[PatienceOutcome]
    recommended: int
    curve_epochs: int

    def outcome(self, patience: int) -> PatienceOutcome:
        return next(o for o in self.outcomes if o.patience == patience)

    def justification(self) -> str:
        chosen = self.outcome(self.chosen)
        best = min(o.best_val_loss for o in self.outcomes)
        gap = chosen.best_val_loss / best - 1 if best > 0 else 0.0
        text = (
            f"Patience {self.chosen} stopped at epoch {chosen.stopped_epoch} keeping validation "
            f"loss {chosen.best_val_loss:.4f} (best epoch {chosen.best_epoch}), {gap:.1%} above "
            f"the best any tested patience kept over a {self.curve_epochs}-epoch curve. "
        )
        if self.recommended == self.chosen:
            return (
                text + f"It is the smallest tested value within {ENOUGH_WITHIN:.0%} of that best."
            )
        if self.recommended < self.chosen:
            return text + (
                f"A patience of {self.recommended} would have kept the same loss (within "
                f"{ENOUGH_WITHIN:.0%}) and stopped sooner; consider lowering it."
            )
        return text + (
            f"A patience of {self.recommended} would have kept a loss within "
            f"{ENOUGH_WITHIN:.0%} of the best; the chosen value stops too early on this data."
        )


def study_patience(
    full_val_loss: list[float],
    chosen: int,
    min_delta: float = 0.0,
    candidates: tuple[int, ...] = PATIENCE_CANDIDATES,
) -> PatienceStudy:
    values = sorted({*candidates, chosen})
    outcomes = [replay_patience(full_val_loss, p, min_delta) for p in values]
    best = min(o.best_val_loss for o in outcomes)
    enough = [o.patience for o in outcomes if o.best_val_loss <= best * (1 + ENOUGH_WITHIN)]
    return PatienceStudy(
        chosen=chosen, outcomes=outcomes, recommended=min(enough), curve_epochs=len(full_val_loss)
    )


def patience_study_from_dict(payload: dict) -> PatienceStudy:
    """Rebuild a study sent across a flow boundary as plain JSON (dataclasses.asdict)."""
    return PatienceStudy(
        chosen=int(payload["chosen"]),
        outcomes=[PatienceOutcome(**o) for o in payload["outcomes"]],
        recommended=int(payload["recommended"]),
        curve_epochs=int(payload["curve_epochs"]),
    )
