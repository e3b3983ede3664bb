"""Early stopping as a small state object, testable by feeding it a list of losses.

Semantics (the Keras/skorch ones, stated so they can be tested):
- an epoch *improves* when ``val_loss < best - min_delta`` (strict);
- an improvement records the epoch as best and resets the miss counter;
- any other epoch is a miss; training stops once ``misses >= patience``;
- a NaN or infinite loss raises NonFiniteLossError at once (never "a miss").
Restoring the best weights is the trainer's job: it snapshots them whenever
``update`` returns True, and restores them whatever ended training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field


class NonFiniteLossError(RuntimeError):
    """Loss became NaN or infinite: training diverged; retrying will not help."""


@dataclass
class EarlyStopping:
    patience: int
    min_delta: float = 0.0
    best_loss: float = field(default=math.inf, init=False)
    best_epoch: int | None = field(default=None, init=False)
    misses: int = field(default=0, init=False)
    stopped_epoch: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError("patience must be at least 1")
        if self.min_delta < 0:
            raise ValueError("min_delta must be >= 0")

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record one epoch's validation loss; True when it is the new best."""
        if not math.isfinite(val_loss):
            raise NonFiniteLossError(f"validation loss is {val_loss} at epoch {epoch}")
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_epoch = epoch
            self.misses = 0
            return True
        self.misses += 1
        if self.misses >= self.patience:
            self.stopped_epoch = epoch
        return False

    @property
    def should_stop(self) -> bool:
        return self.stopped_epoch is not None


@dataclass(frozen=True)
class PatienceOutcome:
    patience: int
    best_epoch: int
    stopped_epoch: int
    best_val_loss: float
    stopped_early: bool


def replay_patience(
    val_losses: Iterable[float], patience: int, min_delta: float = 0.0
) -> PatienceOutcome:
    """Where a given patience would have stopped on a recorded validation curve.

    Epochs are numbered from 1. If the curve ends before the patience runs out, the stop
    is the last recorded epoch and ``stopped_early`` is False.
    """
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    epoch = 0
    for epoch, loss in enumerate(val_losses, start=1):
        stopper.update(epoch, float(loss))
        if stopper.should_stop:
            break
    if stopper.best_epoch is None:
        raise ValueError("empty validation curve")
    return PatienceOutcome(
        patience=patience,
        best_epoch=stopper.best_epoch,
        stopped_epoch=stopper.stopped_epoch or epoch,
        best_val_loss=stopper.best_loss,
        stopped_early=stopper.should_stop,
    )
