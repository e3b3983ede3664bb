import copy

import numpy as np
import pytest
import torch
from torch import nn

from yieldflow.config import TrainingConfig
from yieldflow.ml.mlp import (
    TrainingDivergedError,
    YieldMLP,
    fit_scaling,
    make_adam,
    predict,
    small_data_gpu_hint,
    train_mlp,
    train_one_epoch,
)


def make_data(n: int = 60, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)) * [1, 10, 100, 0.1][:features] + 5
    y = 3 + x[:, 0] - 0.05 * x[:, 1] + rng.normal(scale=0.3, size=n)
    return x[:40], y[:40], x[40:], y[40:]


class RecordingSGD(torch.optim.SGD):
    """SGD that records the gradients each step() actually uses."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.used: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        self.used.append([p.grad.detach().clone() for g in self.param_groups for p in g["params"]])
        return super().step(closure)


def gradients(model: YieldMLP, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    nn.MSELoss()(model.forward_scaled(x), y).backward()
    return [p.grad.detach().clone() for p in model.parameters()]


def test_each_step_uses_only_its_own_batch_gradient():
    """Fails if zero_grad is missing (gradients pile up) or runs after step() (the stale
    gradient planted below leaks into the first step)."""
    torch.manual_seed(0)
    model = YieldMLP(3, [5])
    batches = [(torch.randn(4, 3), torch.randn(4)), (torch.randn(4, 3), torch.randn(4))]
    lr = 0.1
    reference = copy.deepcopy(model)
    expected_first = gradients(reference, *batches[0])
    with torch.no_grad():
        for p, g in zip(reference.parameters(), expected_first, strict=True):
            p -= lr * g
    expected_second = gradients(reference, *batches[1])

    for p in model.parameters():  # a stale gradient from "earlier work"
        p.grad = torch.full_like(p, 7.0)
    optimizer = RecordingSGD(model.parameters(), lr=lr)
    train_one_epoch(model, optimizer, nn.MSELoss(), batches)

    assert len(optimizer.used) == 2
    for used, expected in zip(optimizer.used, [expected_first, expected_second], strict=True):
        for got, want in zip(used, expected, strict=True):
            torch.testing.assert_close(got, want)


def test_early_stopping_restores_the_best_weights():
    x_tr, y_tr, x_va, y_va = make_data()
    config = TrainingConfig(max_epochs=400, patience=15, learning_rate=0.05, batch_size=8)
    result = train_mlp(x_tr, y_tr, x_va, y_va, config, seed=1)
    assert result.stop_reason == "patience"
    assert result.stopped_epoch - result.best_epoch == config.patience
    assert result.best_val_loss == min(result.val_loss)
    scaled_truth = result.model.target_values(torch.tensor(y_va, dtype=torch.float32))
    with torch.no_grad():
        restored = nn.MSELoss()(
            result.model.forward_scaled(torch.tensor(x_va, dtype=torch.float32)), scaled_truth
        )
    assert float(restored) == pytest.approx(result.best_val_loss, rel=1e-5)
    assert len(result.train_loss) == len(result.val_loss) == result.stopped_epoch


def test_max_epochs_ends_training_when_patience_does_not():
    x_tr, y_tr, x_va, y_va = make_data()
    result = train_mlp(x_tr, y_tr, x_va, y_va, TrainingConfig(max_epochs=5, patience=50), seed=0)
    assert result.stop_reason == "max_epochs" and result.stopped_epoch == 5


def test_same_seed_gives_identical_results_on_cpu():
    x_tr, y_tr, x_va, y_va = make_data()
    config = TrainingConfig(max_epochs=60, patience=10, batch_size=8, device="cpu")
    a = train_mlp(x_tr, y_tr, x_va, y_va, config, seed=7)
    b = train_mlp(x_tr, y_tr, x_va, y_va, config, seed=7)
    c = train_mlp(x_tr, y_tr, x_va, y_va, config, seed=8)
    assert a.val_loss == b.val_loss and a.train_loss == b.train_loss
    np.testing.assert_array_equal(predict(a.model, x_va), predict(b.model, x_va))
    assert a.val_loss != c.val_loss


def test_full_curve_run_starts_exactly_like_the_early_stopped_run():
    x_tr, y_tr, x_va, y_va = make_data()
    config = TrainingConfig(max_epochs=200, patience=5, learning_rate=0.05)
    stopped = train_mlp(x_tr, y_tr, x_va, y_va, config, seed=3)
    full = train_mlp(x_tr, y_tr, x_va, y_va, config, seed=3, early_stopping=False)
    assert len(full.val_loss) == 200
    assert full.val_loss[: stopped.stopped_epoch] == stopped.val_loss


def test_exploding_learning_rate_stops_with_a_clear_message():
    x_tr, y_tr, x_va, y_va = make_data()
    with pytest.raises(TrainingDivergedError, match=r"learning rate 10\.0 is probably too high"):
        train_mlp(x_tr, y_tr, x_va, y_va, TrainingConfig(max_epochs=20, learning_rate=10), seed=0)


def test_nan_loss_stops_training():
    x_tr, y_tr, x_va, y_va = make_data()
    x_va = x_va.copy()
    x_va[0, 0] = np.nan
    with pytest.raises(TrainingDivergedError, match="epoch 1"):
        train_mlp(x_tr, y_tr, x_va, y_va, TrainingConfig(max_epochs=20), seed=0)


def test_scaling_is_fitted_on_training_rows_only():
    x_tr, y_tr, x_va, y_va = make_data()
    result = train_mlp(x_tr, y_tr, x_va, y_va, TrainingConfig(max_epochs=2), seed=0)
    expected = fit_scaling(x_tr, y_tr, log_target=True)  # the default target: log yield
    np.testing.assert_allclose(result.model.x_mean.numpy(), expected["x_mean"], rtol=1e-6)
    np.testing.assert_allclose(result.model.x_std.numpy(), expected["x_std"], rtol=1e-6)
    assert float(result.model.y_mean) == pytest.approx(np.log(y_tr).mean(), rel=1e-6)
    assert not np.allclose(result.model.x_mean.numpy(), np.vstack([x_tr, x_va]).mean(axis=0))


def test_model_has_one_output_and_input_size_equal_to_feature_count():
    model = YieldMLP(7, [4, 3])
    first, last = model.net[0], model.net[-1]
    assert first.in_features == 7 and last.out_features == 1
    assert model(torch.zeros(2, 7)).shape == (2,)
    with pytest.raises(ValueError):
        YieldMLP(7, [4, 3, 2])


def test_cuda_request_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    x_tr, y_tr, x_va, y_va = make_data()
    with pytest.raises(RuntimeError, match="no CUDA device"):
        train_mlp(x_tr, y_tr, x_va, y_va, TrainingConfig(device="cuda"), seed=0)


def test_undoing_the_capture_warmup_restores_the_start_in_place():
    """The CUDA graph keeps pointers to the weights and Adam's state, so the warm-up before
    a capture must be undone in the same tensors (checked here on the CPU)."""
    from yieldflow.ml.cuda_graph import _undo_warmup

    torch.manual_seed(0)
    model = YieldMLP(3, [5])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, capturable=False)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pointers = [p.data_ptr() for p in model.parameters()]
    nn.MSELoss()(model.forward_scaled(torch.randn(4, 3)), torch.randn(4)).backward()
    optimizer.step()  # a warm-up step: weights and Adam state move
    state_pointers = [v.data_ptr() for st in optimizer.state.values() for v in st.values()]

    _undo_warmup(model, optimizer, initial)

    for name, value in model.state_dict().items():
        assert torch.equal(value, initial[name]), name
    assert [p.data_ptr() for p in model.parameters()] == pointers
    for st in optimizer.state.values():
        for value in st.values():
            assert not value.any()
    assert [v.data_ptr() for st in optimizer.state.values() for v in st.values()] == (
        state_pointers
    )


@pytest.mark.parametrize("graphed", [True, False])
def test_adam_updates_all_parameters_in_multi_tensor_kernels(graphed):
    # Captured in a CUDA graph Adam must be capturable, and foreach must be asked for:
    # fused=False alone made torch fall back to ~10 ops per parameter (tenth pass, H100).
    model = nn.Linear(3, 1)
    optimizer = make_adam(model.parameters(), TrainingConfig(), graphed=graphed)
    settings = optimizer.defaults
    if graphed:
        assert settings["capturable"] and settings["foreach"] and not settings["fused"]
    else:
        assert settings["fused"] and not settings["capturable"]


def test_a_small_training_set_on_a_gpu_gets_a_hint_that_the_cpu_is_faster():
    hint = small_data_gpu_hint("cuda:0", 24)
    assert hint and "24 training rows on cuda:0" in hint and "--device cpu" in hint
    assert small_data_gpu_hint("cpu", 24) is None
    assert small_data_gpu_hint("cuda:0", 1_000_000) is None
