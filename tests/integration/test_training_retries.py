"""Transient device errors are retried and others fail at once, through a real Prefect
server (the test harness); the classification itself is unit-tested."""

from __future__ import annotations

import pytest
import torch

import yieldflow.tasks.training as training_tasks
from tests.support.training import REAL_TRAIN_MLP, FlakyTrainer, fail_holding, run_training
from yieldflow.ml.early_stopping import NonFiniteLossError


@pytest.fixture
def flaky(monkeypatch):
    def install(*errors: BaseException) -> FlakyTrainer:
        trainer = FlakyTrainer(*errors)
        monkeypatch.setattr(training_tasks, "train_mlp", trainer)
        return trainer

    return install


def test_cuda_error_twice_is_retried_and_completes(prefect_server, flaky, model_data):
    trainer = flaky(
        RuntimeError("CUDA error: an illegal memory access was encountered"),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB"),
    )
    state = run_training(model_data)
    assert state.is_completed()
    assert trainer.calls == 3
    assert state.result().stopped_epoch >= 1


@pytest.mark.parametrize(
    "error",
    [
        ValueError("could not convert string to float: 'n/a'"),
        NonFiniteLossError("training diverged at epoch 3"),
        RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
    ],
)
def test_programming_and_data_errors_fail_at_once(prefect_server, flaky, model_data, error):
    trainer = flaky(error)
    state = run_training(model_data)
    assert state.is_failed()
    assert trainer.calls == 1


class FailHoldingThenTrain:
    """The first call fails while holding a tensor, as an attempt holds its model and
    batches; the second notes whether that tensor was freed, then trains for real."""

    def __init__(self) -> None:
        self.calls = 0
        self.freed: list[bool] = []
        self.freed_before_retry: bool | None = None

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            fail_holding(5_000_000, self.freed)
        self.freed_before_retry = bool(self.freed)
        return REAL_TRAIN_MLP(*args, **kwargs)


def test_a_retry_starts_with_the_failed_attempts_tensors_freed(
    prefect_server, monkeypatch, model_data
):
    """Through a real Prefect server: on a GPU the memory the failed attempt held is what
    its retry needs (tests/integration/test_cuda.py checks that with a real out-of-memory error)."""
    trainer = FailHoldingThenTrain()
    monkeypatch.setattr(training_tasks, "train_mlp", trainer)
    state = run_training(model_data)
    assert state.is_completed()
    assert trainer.calls == 2
    assert trainer.freed_before_retry is True
