"""The yield MLP and its training loop.

The network carries its own input and target scaling as buffers (fitted on the training
seasons only), so the logged model takes raw feature values and returns t/ha: nothing
outside it has to remember how the data were scaled. With ``target="log"`` it learns log
yield, so a 10% error costs the same on soybean (~4 t/ha) as on potato (~40 t/ha).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from yieldflow.config import TrainingConfig
from yieldflow.ml.cuda_graph import CapturedStep
from yieldflow.ml.early_stopping import EarlyStopping, NonFiniteLossError
from yieldflow.ml.seeding import set_seeds
from yieldflow.ml.threads import choose_threads, torch_threads


class TrainingDivergedError(NonFiniteLossError):
    """Loss went NaN/inf: a data or hyperparameter problem, not a transient fault."""


class YieldMLP(nn.Module):
    """Standardise inputs → 1-2 hidden ReLU layers → one output neuron → t/ha (through
    exp() when the target is log yield)."""

    def __init__(
        self,
        n_features: int,
        hidden_units: Sequence[int],
        x_mean: np.ndarray | None = None,
        x_std: np.ndarray | None = None,
        y_mean: float = 0.0,
        y_std: float = 1.0,
        log_target: bool = False,
    ) -> None:
        super().__init__()
        if not 1 <= len(hidden_units) <= 2:
            raise ValueError("the MLP has one or two hidden layers")
        layers: list[nn.Module] = []
        width = n_features
        for units in hidden_units:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("x_mean", _as_tensor(x_mean, n_features, 0.0))
        self.register_buffer("x_std", _as_tensor(x_std, n_features, 1.0))
        self.register_buffer("y_mean", torch.tensor(float(y_mean)))
        self.register_buffer("y_std", torch.tensor(float(y_std)))
        self.register_buffer("log_target", torch.tensor(bool(log_target)))

    def forward_scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction in standardised target units (what the loss is computed on)."""
        return self.net((x - self.x_mean) / self.x_std).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        target = self.forward_scaled(x) * self.y_std + self.y_mean
        return torch.where(self.log_target, torch.exp(target), target)

    def target_values(self, y_t_ha: torch.Tensor) -> torch.Tensor:
        """Yields in t/ha → the standardised units the loss is computed in."""
        target = torch.log(y_t_ha) if bool(self.log_target) else y_t_ha
        return (target - self.y_mean) / self.y_std


def _as_tensor(values: np.ndarray | None, n: int, fill: float) -> torch.Tensor:
    if values is None:
        return torch.full((n,), fill, dtype=torch.float32)
    return torch.as_tensor(np.asarray(values, dtype=np.float32))


def fit_scaling(
    x_train: np.ndarray, y_train: np.ndarray, log_target: bool = False
) -> dict[str, np.ndarray | float]:
    """Mean/std of the training rows only; constant columns get std 1 to avoid 0/0."""
    if log_target:
        if (y_train <= 0).any():
            raise ValueError("a log-yield target needs yields above 0 (the contract's rule)")
        y_train = np.log(y_train)
    x_std = x_train.std(axis=0)
    y_std = float(y_train.std())
    return {
        "x_mean": x_train.mean(axis=0),
        "x_std": np.where(x_std > 1e-12, x_std, 1.0),
        "y_mean": float(y_train.mean()),
        "y_std": y_std if y_std > 1e-12 else 1.0,
    }


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available")
    return torch.device(requested)


# Below about this many training rows the GPU's start-up costs more than its faster steps
# save (an estimate from the GPU benchmark: docs/benchmarks.md).
GPU_PAYS_FROM_ROWS = 100


def small_data_gpu_hint(device: str, training_rows: int) -> str | None:
    """Why the CPU would do, when a small training set went to a GPU; else None."""
    if not device.startswith("cuda") or training_rows >= GPU_PAYS_FROM_ROWS:
        return None
    return (
        f"{training_rows} training rows on {device}: below ~{GPU_PAYS_FROM_ROWS:,} rows the "
        "CPU is faster, since starting CUDA costs seconds (--device cpu; training.device "
        "in a deployment's parameters)"
    )


@dataclass
class TrainingResult:
    model: YieldMLP  # best weights restored, on the CPU
    train_loss: list[float] = field(default_factory=list)  # per epoch, standardised MSE
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_epoch: int = 0
    stop_reason: str = ""  # "patience" or "max_epochs"
    device: str = "cpu"
    threads: int = 1  # torch intra-op threads used (on CPU; see yieldflow.ml.threads)
    cuda_graphs: bool = False  # full batches replayed a captured CUDA graph
    seconds: float = 0.0

    @property
    def best_val_loss(self) -> float:
        return self.val_loss[self.best_epoch - 1]


def train_one_epoch(
    model: YieldMLP,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    captured: CapturedStep | None = None,
) -> torch.Tensor:
    """One pass over the batches; returns the mean training loss as a device tensor.

    The loss is accumulated on the device and read once per epoch by the caller, so the
    loop has no per-batch host synchronisation. A batch of the `captured` step's shape
    replays that CUDA graph (the same step, see yieldflow.ml.cuda_graph); any other batch,
    the last one of an epoch say, takes the eager step.
    """
    model.train()
    total = torch.zeros((), device=batches[0][0].device)
    count = 0
    for x_batch, y_scaled in batches:
        if captured is not None and captured.fits(x_batch):
            loss = captured(x_batch, y_scaled)
        else:
            optimizer.zero_grad()  # before the forward pass: each step sees only its batch
            loss = loss_fn(model.forward_scaled(x_batch), y_scaled)
            loss.backward()
            optimizer.step()
        total.add_(loss.detach(), alpha=len(y_scaled))  # one op, no new tensor per step
        count += len(y_scaled)
    return total / count


def _batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if batch_size >= len(y):
        return [(x, y)]
    order = torch.randperm(len(y), generator=generator).to(x.device)
    return [(x[idx], y[idx]) for idx in torch.split(order, batch_size)]


def train_mlp(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainingConfig,
    seed: int,
    on_epoch: Callable[[int, float, float], None] | None = None,
    early_stopping: bool = True,
    keep_last: bool = False,
) -> TrainingResult:
    """Train with Adam on MSE, early-stop on validation loss, restore the best weights.

    ``early_stopping=False`` runs all ``max_epochs`` (used to replay other patience values
    on the full curve); with the same seed its first epochs equal the early-stopped run's.
    ``keep_last=True`` keeps the last epoch's weights: a refit for an epoch count chosen
    elsewhere, whose "validation" rows are its own training rows.
    """
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("training and validation sets must both have rows")
    device = resolve_device(config.device)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        widest = max(x_train.shape[1], *config.hidden_units)
        batch_rows = min(config.batch_size, len(x_train))
        threads = choose_threads(config.cpu_threads, batch_rows, widest, threads)
    with torch_threads(threads):
        result = _fit(
            x_train,
            y_train,
            x_val,
            y_val,
            config,
            seed,
            device,
            on_epoch,
            early_stopping,
            keep_last,
        )
    result.threads = threads
    return result


def make_adam(
    params: Iterable[torch.nn.Parameter], config: TrainingConfig, graphed: bool
) -> torch.optim.Adam:
    """Adam that updates every parameter in a few ops, not ~10 ops per parameter.

    A step of this small network costs op dispatches and kernel launches, not arithmetic.
    Uncaptured, the fused Adam took 28 % less time than the default on the CPU at 48 rows
    (25 % at 10k, 8 % at 1M; one thread). Captured in a CUDA graph, Adam must be
    capturable and is asked for the multi-tensor (foreach) kernels by name: given
    fused=False alone, torch falls back to the per-parameter loop, which made the graphed
    loop 12-59 % slower on an H100.
    """
    kernels = {"foreach": True} if graphed else {"fused": True}
    return torch.optim.Adam(
        params,
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        capturable=graphed,
        **kernels,
    )


def _fit(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainingConfig,
    seed: int,
    device: torch.device,
    on_epoch: Callable[[int, float, float], None] | None,
    early_stopping: bool,
    keep_last: bool = False,
) -> TrainingResult:
    set_seeds(seed)
    started = time.perf_counter()
    log_target = config.target == "log"
    scaling = fit_scaling(x_train, y_train, log_target)
    model = YieldMLP(x_train.shape[1], config.hidden_units, **scaling, log_target=log_target).to(
        device
    )
    # On a GPU the whole step is captured as one CUDA graph (see yieldflow.ml.cuda_graph).
    graphed = device.type == "cuda" and config.cuda_graphs
    optimizer = make_adam(model.parameters(), config, graphed)
    loss_fn = nn.MSELoss()
    generator = torch.Generator().manual_seed(seed)

    def to_device(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)

    xt, xv = to_device(x_train), to_device(x_val)
    yt_scaled = model.target_values(to_device(y_train))
    yv_scaled = model.target_values(to_device(y_val))

    stopper = EarlyStopping(patience=config.patience, min_delta=config.min_delta)
    result = TrainingResult(model=model, device=str(device), cuda_graphs=graphed)
    best_state = _snapshot(model)
    captured: CapturedStep | None = None
    for epoch in range(1, config.max_epochs + 1):
        batches = _batches(xt, yt_scaled, config.batch_size, generator)
        if graphed and captured is None:
            captured = CapturedStep(model, model.forward_scaled, optimizer, loss_fn, *batches[0])
        train_loss_t = train_one_epoch(model, optimizer, loss_fn, batches, captured)
        model.eval()
        with torch.inference_mode():
            val_loss_t = loss_fn(model.forward_scaled(xv), yv_scaled)
        train_loss, val_loss = torch.stack([train_loss_t, val_loss_t]).tolist()
        result.train_loss.append(train_loss)
        result.val_loss.append(val_loss)
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_loss)
        _check_finite(epoch, train_loss, val_loss, config.learning_rate)
        if stopper.update(epoch, val_loss):
            best_state = _snapshot(model)
        if early_stopping and stopper.should_stop:
            result.stop_reason = "patience"
            break
    else:
        result.stop_reason = "max_epochs"
    result.stopped_epoch = len(result.val_loss)
    result.best_epoch = stopper.best_epoch or result.stopped_epoch
    if not keep_last:
        model.load_state_dict(best_state)  # restore the best weights whatever ended training
    result.model = model.cpu().eval()
    result.seconds = time.perf_counter() - started
    return result


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as they are now, for restoring the best epoch's: a tensor clone each
    (copy.deepcopy of a state_dict costs ~13x as much, ~0.7 ms on every improving epoch,
    as long as a whole epoch of the 48-row model takes)."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


# Targets are standardised, so a loss this large means predictions a hundred standard
# deviations off: the optimiser has diverged even if the number is still finite.
EXPLODED_LOSS = 1e4


def _check_finite(epoch: int, train_loss: float, val_loss: float, learning_rate: float) -> None:
    if np.isfinite(train_loss) and np.isfinite(val_loss) and train_loss < EXPLODED_LOSS:
        return
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch} (train loss {train_loss:.4g}, validation loss "
        f"{val_loss:.4g}): the learning rate {learning_rate} is probably too high, or the "
        "features hold extreme values; lower --learning-rate and check the data"
    )


def predict(model: YieldMLP, x: np.ndarray) -> np.ndarray:
    """Yield predictions in t/ha for raw feature rows."""
    model.eval()
    with torch.no_grad():
        inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return model(inputs).numpy().astype(float)
