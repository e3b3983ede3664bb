"""Training under Prefect with injected failures: what the retry tests share."""

from __future__ import annotations

import weakref

import torch
from prefect import flow
from prefect.states import State

import yieldflow.tasks.training as training_tasks
from yieldflow.config import TrainingConfig

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


def run_training(model_data) -> State:
    task = training_tasks.train.with_options(retry_delay_seconds=0)

    @flow
    def one_training():
        # wrapped, so a failed task state is data here, not this flow's own final state
        return {"state": task(model_data, TrainingConfig(max_epochs=20), 0, return_state=True)}

    return one_training()["state"]


def fail_holding(elements: int, freed: list[bool]) -> None:
    held = torch.empty(elements)  # what a failed attempt has on its device
    weakref.finalize(held, freed.append, True)
    raise RuntimeError("CUDA error: an illegal memory access was encountered")
