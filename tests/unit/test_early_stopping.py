import math

import pytest

from yieldflow.ml.early_stopping import EarlyStopping, NonFiniteLossError, replay_patience


def feed(stopper: EarlyStopping, losses: list[float]) -> int:
    """Feed losses until the stopper says stop; return the last epoch fed."""
    for epoch, loss in enumerate(losses, start=1):
        stopper.update(epoch, loss)
        if stopper.should_stop:
            return epoch
    return len(losses)


def test_stops_after_patience_misses_and_remembers_best():
    stopper = EarlyStopping(patience=3)
    last = feed(stopper, [1.0, 0.8, 0.9, 0.85, 0.81, 0.7])
    assert (stopper.best_epoch, stopper.best_loss) == (2, 0.8)
    assert last == 5 and stopper.stopped_epoch == 5  # three misses after epoch 2


def test_improvement_resets_the_miss_counter():
    stopper = EarlyStopping(patience=2)
    feed(stopper, [1.0, 1.1, 0.9, 1.0])
    assert stopper.misses == 1 and not stopper.should_stop
    assert stopper.best_epoch == 3


def test_equal_loss_is_not_an_improvement():
    stopper = EarlyStopping(patience=2)
    assert feed(stopper, [1.0, 1.0, 1.0]) == 3
    assert stopper.best_epoch == 1


def test_min_delta_requires_a_strictly_larger_drop():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    feed(stopper, [1.0, 0.95, 0.9])  # drops of 0.05 and 0.1: neither beats 1.0 - 0.1
    assert stopper.best_epoch == 1 and stopper.should_stop
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    feed(stopper, [1.0, 0.89])
    assert stopper.best_epoch == 2


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_raises(bad):
    stopper = EarlyStopping(patience=5)
    stopper.update(1, 1.0)
    with pytest.raises(NonFiniteLossError):
        stopper.update(2, bad)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError):
        EarlyStopping(patience=1, min_delta=-1)


def test_replay_on_a_curve_that_ends_before_patience_runs_out():
    outcome = replay_patience([3.0, 2.0, 2.5], patience=5)
    assert outcome.best_epoch == 2 and outcome.stopped_epoch == 3
    assert not outcome.stopped_early


def test_replay_larger_patience_keeps_a_later_better_minimum():
    curve = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6]
    short, long = replay_patience(curve, 2), replay_patience(curve, 10)
    assert (short.best_epoch, short.stopped_epoch, short.best_val_loss) == (2, 4, 0.9)
    assert (long.best_epoch, long.best_val_loss) == (6, 0.5)
