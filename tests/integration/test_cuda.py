"""The CUDA training path, on a machine that has a GPU (skipped elsewhere, CI included).

What the CPU tests cannot show: that training on the device repeats exactly with the same
seed (deterministic kernels), agrees with the CPU, hands back a CPU model, and that a real
CUDA out-of-memory error in the training task is retried by Prefect with the failed
attempt's memory given back.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import yieldflow.tasks.training as training_tasks
from tests.support.training import REAL_TRAIN_MLP, run_training
from yieldflow.config import TrainingConfig
from yieldflow.ml.mlp import predict, train_mlp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _train(model_data, device: str, seed: int = 3, **config):
    return train_mlp(
        model_data.x["train"],
        model_data.y["train"],
        model_data.x["val"],
        model_data.y["val"],
        TrainingConfig(device=device, **config),
        seed,
    )


def test_cuda_training_repeats_exactly_with_the_same_seed(model_data):
    first, second = _train(model_data, "cuda"), _train(model_data, "cuda")
    assert first.device.startswith("cuda") and first.cuda_graphs
    assert first.train_loss == second.train_loss
    assert first.val_loss == second.val_loss
    assert first.best_epoch == second.best_epoch
    for name, value in first.model.state_dict().items():
        assert value.device.type == "cpu"  # the returned model is on the CPU
        assert torch.equal(value, second.model.state_dict()[name]), name


def test_cuda_and_cpu_training_agree(model_data):
    gpu, cpu = _train(model_data, "cuda"), _train(model_data, "cpu")
    # Same seed, same batches, same math: only float rounding differs between devices.
    np.testing.assert_allclose(gpu.train_loss[:5], cpu.train_loss[:5], rtol=1e-3)
    np.testing.assert_allclose(gpu.val_loss[:5], cpu.val_loss[:5], rtol=1e-3)
    assert gpu.best_val_loss == pytest.approx(cpu.best_val_loss, rel=0.1)
    predicted = predict(gpu.model, model_data.x["val"])  # trained on the GPU, used on a CPU
    assert predicted.shape == (len(model_data.y["val"]),)
    assert np.isfinite(predicted).all()


def _uneven_data(rows: int = 100, features: int = 6, seed: int = 0):
    """100 training rows in batches of 16: six captured steps and a 4-row eager one."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows + 40, features)) * 3 + 5
    y = x @ rng.normal(size=features) + rng.normal(scale=0.5, size=rows + 40)
    return x[:rows], y[:rows], x[rows:], y[rows:]


def test_captured_steps_train_like_eager_steps():
    data = _uneven_data()
    runs = {
        graphs: train_mlp(
            *data,
            TrainingConfig(
                device="cuda", batch_size=16, max_epochs=80, cuda_graphs=graphs, target="t_ha"
            ),
            seed=5,
        )
        for graphs in (True, False)
    }
    captured, eager = runs[True], runs[False]
    # Same initial weights and batches; only the Adam kernels differ (capturable vs fused).
    np.testing.assert_allclose(captured.train_loss[:10], eager.train_loss[:10], rtol=1e-4)
    np.testing.assert_allclose(captured.val_loss[:10], eager.val_loss[:10], rtol=1e-4)
    assert captured.best_val_loss == pytest.approx(eager.best_val_loss, rel=0.05)
    again = train_mlp(
        *data, TrainingConfig(device="cuda", batch_size=16, max_epochs=80, target="t_ha"), seed=5
    )
    assert again.val_loss == captured.val_loss  # replaying graphs is deterministic too


class OutOfMemoryOnceThenTrain:
    """The first call holds 60 % of the free GPU memory and asks for as much again: a real
    CUDA out-of-memory error. Every call first takes that 60 % (which fails if a failed
    attempt still holds its share), then trains on the GPU for real."""

    def __init__(self) -> None:
        free, _total = torch.cuda.mem_get_info()
        self.elements = int(free * 0.6) // 4  # float32
        self.calls = 0
        self.errors: list[str] = []
        self.allocated_at_start: list[int] = []

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.allocated_at_start.append(torch.cuda.memory_allocated())
        held = torch.empty(self.elements, device="cuda")
        if self.calls == 1:
            try:
                torch.empty(self.elements, device="cuda")
            except torch.OutOfMemoryError as error:
                self.errors.append(str(error))
                raise
        del held
        return REAL_TRAIN_MLP(*args, **kwargs)


def test_a_real_cuda_out_of_memory_is_retried_with_its_memory_given_back(
    prefect_server, monkeypatch, model_data
):
    trainer = OutOfMemoryOnceThenTrain()
    monkeypatch.setattr(training_tasks, "train_mlp", trainer)
    state = run_training(model_data)  # TrainingConfig's device "auto": the GPU here
    assert trainer.errors and "out of memory" in trainer.errors[0].lower()
    assert state.is_completed()
    assert trainer.calls == 2  # one retry was enough: the first attempt's 60 % was freed
    assert trainer.allocated_at_start[1] == trainer.allocated_at_start[0]
    assert state.result().device.startswith("cuda")
