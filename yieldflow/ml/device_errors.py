"""Which training failures are worth retrying: transient device faults, nothing else."""

from __future__ import annotations

import gc
import traceback

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


def release_failed_attempt(error: BaseException) -> None:
    """Free the device memory a failed attempt still holds, so its retry can have it.

    Why: the exception keeps the failed attempt's frames alive through its traceback, and
    with them the model, the data on the device and the batches; Prefect keeps that
    exception in the failed state while it decides to retry. Measured with a Prefect
    server: without this, a retry started with all of the first attempt's tensors still
    allocated. Clearing the frames' locals drops them (the traceback still prints), the
    collector sweeps any cycles, and the caching allocator hands its free blocks back so
    a retry that needs a different layout is not refused by fragmentation.
    """
    traceback.clear_frames(error.__traceback__)
    gc.collect()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
