"""The training task's retry policy, run by a real (temporary) Prefect server: transient
CUDA-style faults are retried, bad data and diverged training fail at once."""

from __future__ import annotations

import traceback
import weakref

import pytest
import torch
from prefect import flow
from prefect.states import State

import tasks.training as training_tasks
from yieldflow.config import TrainingConfig
from yieldflow.ml.device_errors import is_transient_device_error, release_failed_attempt
from yieldflow.ml.early_stopping import NonFiniteLossError


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("CUDA error: an illegal memory access was encountered"), True),
        (RuntimeError("CUDA error: unspecified launch failure"), True),
        (RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"), True),
        (RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling cublasSgemm"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x8)"), False),
        (ValueError("CUDA error: in a ValueError is still a bug"), False),
        (NonFiniteLossError("validation loss is nan"), False),
        (KeyError("crop"), False),
    ],
)
def test_which_errors_are_transient(error, transient):
    assert is_transient_device_error(error) is transient


REAL_TRAIN_MLP = training_tasks.train_mlp


class FlakyTrainer:
    """Raises the given errors on the first calls, then trains for real."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return REAL_TRAIN_MLP(*args, **kwargs)


@pytest.fixture
def flaky(monkeypatch):
    def install(*errors: BaseException) -> FlakyTrainer:
        trainer = FlakyTrainer(*errors)
        monkeypatch.setattr(training_tasks, "train_mlp", trainer)
        return trainer

    return install


def run_training(model_data) -> State:
    task = training_tasks.train.with_options(retry_delay_seconds=0)

    @flow
    def one_training():
        # wrapped, so a failed task state is data here, not this flow's own final state
        return {"state": task(model_data, TrainingConfig(max_epochs=20), 0, return_state=True)}

    return one_training()["state"]


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


def _fail_holding(elements: int, freed: list[bool]) -> None:
    held = torch.empty(elements)  # what a failed attempt has on its device
    weakref.finalize(held, freed.append, True)
    raise RuntimeError("CUDA error: an illegal memory access was encountered")


def test_releasing_a_failed_attempt_frees_what_its_frames_held():
    freed: list[bool] = []
    try:
        _fail_holding(1000, freed)
    except RuntimeError as error:
        kept = error  # as Prefect keeps it in the failed state while deciding to retry
    assert freed == []  # the traceback's frame still holds the tensor
    release_failed_attempt(kept)
    assert freed == [True]
    assert "_fail_holding" in "".join(traceback.format_exception(kept))  # still printable


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
            _fail_holding(5_000_000, self.freed)
        self.freed_before_retry = bool(self.freed)
        return REAL_TRAIN_MLP(*args, **kwargs)


def test_a_retry_starts_with_the_failed_attempts_tensors_freed(
    prefect_server, monkeypatch, model_data
):
    """Through a real Prefect server: on a GPU the memory the failed attempt held is what
    its retry needs (tests/test_cuda.py checks that with a real out-of-memory error)."""
    trainer = FailHoldingThenTrain()
    monkeypatch.setattr(training_tasks, "train_mlp", trainer)
    state = run_training(model_data)
    assert state.is_completed()
    assert trainer.calls == 2
    assert trainer.freed_before_retry is True
