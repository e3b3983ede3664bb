"""Training thread choice: one thread for small steps, the user's count when given."""

from __future__ import annotations

import numpy as np
import torch

from yieldflow.config import TrainingConfig
from yieldflow.ml.mlp import train_mlp
from yieldflow.ml.threads import SMALL_STEP_ELEMENTS, choose_threads, torch_threads


def test_small_steps_train_on_one_thread() -> None:
    assert choose_threads(0, batch_rows=8, widest_layer=32, default=8) == 1


def test_large_steps_keep_torch_default() -> None:
    assert choose_threads(0, SMALL_STEP_ELEMENTS, 1, default=8) == 8


def test_requested_count_wins() -> None:
    assert choose_threads(3, batch_rows=8, widest_layer=32, default=8) == 3


def test_scope_restores_previous_count_even_on_error() -> None:
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    try:
        with torch_threads(target):
            assert torch.get_num_threads() == target
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before


def test_train_mlp_reports_threads_and_restores_them() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 5)).astype(np.float32)
    y = rng.normal(size=24).astype(np.float32)
    before = torch.get_num_threads()
    config = TrainingConfig(max_epochs=3, device="cpu", cpu_threads=2, target="t_ha")
    result = train_mlp(x[:16], y[:16], x[16:], y[16:], config, seed=0)
    assert result.threads == 2
    assert torch.get_num_threads() == before
    auto = train_mlp(
        x[:16], y[:16], x[16:], y[16:], config.model_copy(update={"cpu_threads": 0}), 0
    )
    assert auto.threads == 1
