"""Which training failures are worth retrying: transient device faults, nothing else."""

from __future__ import annotations

import torch

from yieldflow.ml.early_stopping import NonFiniteLossError

# Lower-case fragments of the messages CUDA, cuBLAS and cuDNN raise for faults that another
# attempt (after memory is freed, or on a healthy device) can survive.
TRANSIENT_MARKERS: tuple[str, ...] = (
    "cuda out of memory",
    "out of memory",
    "cuda error",
    "cublas_status",
    "cudnn_status",
    "device-side",
    "unspecified launch failure",
    "device not ready",
    "busy or unavailable",
    "ecc error",
    "nccl error",
)


def is_transient_device_error(error: BaseException) -> bool:
    """True for CUDA-style runtime faults; False for bad data, diverged loss or bugs."""
    if isinstance(error, NonFiniteLossError):
        return False
    if isinstance(error, torch.OutOfMemoryError):
        return True
    if type(error) is not RuntimeError and not isinstance(error, torch.AcceleratorError):
        return False
    message = str(error).lower()
    return any(marker in message for marker in TRANSIENT_MARKERS)
