"""One place that makes a run repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def set_seeds(seed: int, deterministic: bool = True) -> None:
    """Seed random, numpy and torch (CPU and CUDA) and ask for deterministic kernels.

    cuBLAS needs CUBLAS_WORKSPACE_CONFIG set before its first use to be deterministic;
    ``warn_only`` keeps an op without a deterministic kernel from failing a run (it warns,
    and the seed-spread measurement shows what variation remains).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
