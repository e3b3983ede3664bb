"""Benchmark 3: epochs per second of yieldflow's training loop against a minimal loop.

Why: `train_mlp` does more than a textbook loop (validation loss every epoch, one host
sync per epoch to read both losses, early-stopping bookkeeping with a clone of the
weights on each improvement, batches materialised as a list). This measures what that
costs at the pipeline's real size (48 rows) and at sizes where it could start to matter.
The reference uses the same YieldMLP, data, optimiser, seed and batch size, shuffles each
epoch the same way, prepares tensors once and never syncs with the host inside the loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import (
    Check,
    NotMeasured,
    at_least,
    interleaved,
    log,
    median,
    run_in_child,
    timed,
)

TARGET = 0.9  # yieldflow epochs/s ≥ 0.9 × the reference's
N_FEATURES = 20  # the pipeline has 14 numeric features + one-hot crop and soil ≈ 20-23
HIDDEN = [32, 16]  # TrainingConfig's default
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-2

# Both sides run with one intra-op thread: on a shared 2-core machine torch's two threads
# make every tiny op wait for a descheduled partner, measuring the load, not the loop.
TORCH_THREADS = 1

# rows: (batch size, epochs per measurement, repeats). 48 rows and batch 8 are the
# pipeline's own (12 farms × 4 seasons, TrainingConfig.batch_size); larger sets get the
# batch sizes one would pick there, so an epoch stays at a few hundred optimiser steps.
# The short runs (48 and 10,000 rows) get more repeats: their medians are noisy.
SIZES: dict[str, dict[int, tuple[int, int, int]]] = {
    "full": {48: (8, 100, 11), 10_000: (128, 5, 9), 1_000_000: (4096, 2, 3)},
    "smoke": {48: (8, 10, 1), 10_000: (128, 1, 1), 100_000: (4096, 1, 1)},
}


def make_data(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A regression problem shaped like the season features (validation = rows / 4)."""
    rng = np.random.default_rng(seed)
    val_rows = max(12, rows // 4)
    weights = rng.normal(size=N_FEATURES)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(loc=5.0, scale=3.0, size=(n, N_FEATURES)).astype(np.float32)
        y = (x @ weights + rng.normal(scale=2.0, size=n) + 10.0).astype(np.float32)
        return x, y

    x_train, y_train = part(rows)
    x_val, y_val = part(val_rows)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}


def run_yieldflow(
    rows: int,
    batch_size: int,
    epochs: int,
    seed: int = 0,
    device: str = "cpu",
    cpu_threads: int = 0,
) -> dict[str, Any]:
    """yieldflow.ml.mlp.train_mlp for exactly `epochs` epochs (patience = epochs).

    `cpu_threads` 0 lets train_mlp choose its threads, as the pipeline does.
    """
    from yieldflow.config import TrainingConfig
    from yieldflow.ml.mlp import train_mlp

    data = make_data(rows, seed)
    config = TrainingConfig(
        hidden_units=HIDDEN,
        learning_rate=LEARNING_RATE,
        weight_decay=WEIGHT_DECAY,
        max_epochs=epochs,
        patience=epochs,
        batch_size=batch_size,
        device=device,
        cpu_threads=cpu_threads,
        target="t_ha",  # the reference loop standardises t/ha; the data go below zero
    )
    seconds, result = timed(
        lambda: train_mlp(
            data["x_train"], data["y_train"], data["x_val"], data["y_val"], config, seed
        )
    )
    if result.stopped_epoch != epochs:
        raise AssertionError(f"ran {result.stopped_epoch} epochs, expected {epochs}")
    return {
        "seconds": seconds,
        "epochs_per_s": epochs / seconds,
        "device": result.device,
        "torch_threads": result.threads,
        "final_train_loss": result.train_loss[-1],
    }


def run_reference(
    rows: int, batch_size: int, epochs: int, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    """The same model, data and batches in the shortest correct loop one would write.

    On a GPU everything lives on the device, the shuffle included (`randperm` on the GPU,
    with a GPU generator), as one would write it there.
    """
    import torch

    from yieldflow.ml.mlp import YieldMLP, fit_scaling

    data = make_data(rows, seed)

    def train() -> float:
        torch.manual_seed(seed)
        model = YieldMLP(N_FEATURES, HIDDEN, **fit_scaling(data["x_train"], data["y_train"]))
        model = model.to(device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY
        )
        loss_fn = torch.nn.MSELoss()
        generator = torch.Generator(device=device).manual_seed(seed)
        x = torch.from_numpy(data["x_train"]).to(device)
        y = (torch.from_numpy(data["y_train"]).to(device) - model.y_mean) / model.y_std
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=generator, device=device)
            for idx in torch.split(order, batch_size):
                optimizer.zero_grad()
                loss = loss_fn(model.forward_scaled(x[idx]), y[idx])
                loss.backward()
                optimizer.step()
        return float(loss.detach())  # the only host sync

    seconds, last_loss = timed(train)
    return {
        "seconds": seconds,
        "epochs_per_s": epochs / seconds,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "final_batch_loss": last_loss,
    }


def run(size: str) -> dict[str, Any]:
    """All sizes in one child process (torch's threads and imports stay out of the parent)."""
    measured = run_in_child("benchmarks.training:measure_sizes", {"size": size}).value["sizes"]
    return {"sizes": measured, "checks": [c.as_dict() for c in checks(measured)]}


def measure_sizes(size: str) -> dict[str, Any]:
    """Child-process body: every size of `size`, smallest first."""
    measured = []
    for rows, (batch_size, epochs, repeats) in SIZES[size].items():
        m = measure_size(rows, batch_size, epochs, repeats)
        log(
            f"training {rows:,} rows: yieldflow {m['yieldflow_eps']:.2f} epochs/s, "
            f"reference {m['reference_eps']:.2f} epochs/s"
        )
        measured.append(m)
    return {"sizes": measured}


def measure_size(rows: int, batch_size: int, epochs: int, repeats: int) -> dict[str, Any]:
    """Child-process body: one warm-up of each side, then `repeats` interleaved runs."""
    import torch

    torch.set_num_threads(TORCH_THREADS)
    run_reference(rows, batch_size, 1)  # warm-up: torch's lazy init, allocator, caches
    run_yieldflow(rows, batch_size, 1)
    runs = interleaved(
        {
            "yieldflow": lambda: run_yieldflow(rows, batch_size, epochs),
            "reference": lambda: run_reference(rows, batch_size, epochs),
        },
        repeats,
    )
    return {
        "rows": rows,
        "batch_size": batch_size,
        "epochs": epochs,
        "repeats": repeats,
        "device": runs["yieldflow"][0]["device"],
        "torch_threads": runs["yieldflow"][0]["torch_threads"],
        "yieldflow_eps": median(r["epochs_per_s"] for r in runs["yieldflow"]),
        "reference_eps": median(r["epochs_per_s"] for r in runs["reference"]),
        "yieldflow_s": [r["seconds"] for r in runs["yieldflow"]],
        "reference_s": [r["seconds"] for r in runs["reference"]],
    }


def checks(measured: list[dict[str, Any]]) -> list[Check]:
    return [_ratio_check("training", "epochs/s yieldflow / reference", m) for m in measured]


def _ratio_check(benchmark: str, metric: str, m: dict[str, Any], more: str = "") -> Check:
    """yieldflow's epochs/s against the reference's at one size, against TARGET."""
    return at_least(
        benchmark,
        f"{m['rows']:,} rows",
        metric,
        m["yieldflow_eps"] / m["reference_eps"],
        TARGET,
        f"batch {m['batch_size']}, {m['yieldflow_eps']:.2f} vs {m['reference_eps']:.2f} "
        f"epochs/s on {m['device']}{more}",
    )


# Benchmark 3 on a GPU, when the machine has one: rows → (batch size, GPU epochs per run,
# repeats, CPU epochs per run). The same loop and reference run on the GPU (target as on
# the CPU), and yieldflow's own CPU run on the same machine gives the speed-up: once with
# the threads train_mlp chooses (as the pipeline trains) and once with every core. 48 rows
# is the pipeline's real size, where only CUDA graphs made the GPU pay.
GPU_SIZES: dict[str, dict[int, tuple[int, int, int, int]]] = {
    "full": {
        48: (8, 100, 5, 100),
        10_000: (128, 10, 5, 5),
        100_000: (4096, 20, 5, 10),
        1_000_000: (4096, 10, 5, 2),
    },
    "smoke": {48: (8, 10, 1, 10), 100_000: (4096, 2, 1, 1)},
}


def run_gpu(size: str) -> dict[str, Any]:
    """Benchmark 3 on the GPU, in a child process; NotMeasured where there is none."""
    measured = run_in_child("benchmarks.training:measure_gpu_sizes", {"size": size}).value
    if not measured["sizes"]:
        raise NotMeasured(measured["reason"])
    return {
        "sizes": measured["sizes"],
        "gpu": measured["gpu"],
        "machine": measured["machine"],
        "checks": [c.as_dict() for c in gpu_checks(measured["sizes"])],
    }


def measure_gpu_sizes(size: str) -> dict[str, Any]:
    """Child-process body: every size of GPU_SIZES[size], or the reason there is no GPU."""
    import torch

    from benchmarks.report import machine

    if not torch.cuda.is_available():
        return {"sizes": [], "reason": "no CUDA device on this machine"}
    measured = []
    for rows, (batch_size, epochs, repeats, cpu_epochs) in GPU_SIZES[size].items():
        m = measure_gpu_size(rows, batch_size, epochs, repeats, cpu_epochs)
        log(
            f"training on the GPU, {rows:,} rows: yieldflow {m['yieldflow_eps']:.2f} "
            f"epochs/s, reference {m['reference_eps']:.2f}; on the CPU "
            f"{m['cpu_eps']:.2f} ({m['cpu_threads']} thread(s)), {m['cpu_all_eps']:.2f} "
            f"({m['cpu_all_threads']} threads)"
        )
        measured.append(m)
    props = torch.cuda.get_device_properties(0)
    gpu = {
        "name": torch.cuda.get_device_name(0),
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "cuda": torch.version.cuda,
    }
    return {"sizes": measured, "gpu": gpu, "machine": machine()}


def measure_gpu_size(
    rows: int, batch_size: int, epochs: int, repeats: int, cpu_epochs: int
) -> dict[str, Any]:
    """One warm-up of each side, interleaved GPU repeats, then the CPU runs."""
    import os

    cores = os.cpu_count() or 1
    for device in ("cuda", "cpu"):  # lazy init, cuBLAS handles, allocator, caches
        run_reference(rows, batch_size, 1, device=device)
        run_yieldflow(rows, batch_size, 1, device=device)
    gpu = interleaved(
        {
            "yieldflow": lambda: run_yieldflow(rows, batch_size, epochs, device="cuda"),
            "reference": lambda: run_reference(rows, batch_size, epochs, device="cuda"),
        },
        repeats,
    )
    cpu = interleaved(
        {
            "chosen": lambda: run_yieldflow(rows, batch_size, cpu_epochs),
            "all": lambda: run_yieldflow(rows, batch_size, cpu_epochs, cpu_threads=cores),
        },
        max(1, min(repeats, 3)),
    )
    return {
        "rows": rows,
        "batch_size": batch_size,
        "epochs": epochs,
        "cpu_epochs": cpu_epochs,
        "repeats": repeats,
        "device": gpu["yieldflow"][0]["device"],
        "yieldflow_eps": median(r["epochs_per_s"] for r in gpu["yieldflow"]),
        "reference_eps": median(r["epochs_per_s"] for r in gpu["reference"]),
        "cpu_eps": median(r["epochs_per_s"] for r in cpu["chosen"]),
        "cpu_threads": cpu["chosen"][0]["torch_threads"],
        "cpu_all_eps": median(r["epochs_per_s"] for r in cpu["all"]),
        "cpu_all_threads": cpu["all"][0]["torch_threads"],
        "yieldflow_s": [r["seconds"] for r in gpu["yieldflow"]],
        "reference_s": [r["seconds"] for r in gpu["reference"]],
        "cpu_s": [r["seconds"] for r in cpu["chosen"]],
        "cpu_all_s": [r["seconds"] for r in cpu["all"]],
    }


def gpu_checks(measured: list[dict[str, Any]]) -> list[Check]:
    return [
        _ratio_check(
            "training-gpu",
            "epochs/s yieldflow / reference on the GPU",
            m,
            f"; speed-up over the CPU {m['yieldflow_eps'] / m['cpu_eps']:.2f}x "
            f"({m['cpu_threads']} thread(s), as train_mlp chooses), "
            f"{m['yieldflow_eps'] / m['cpu_all_eps']:.2f}x ({m['cpu_all_threads']} threads)",
        )
        for m in measured
    ]
