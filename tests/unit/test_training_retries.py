"""The training task's retry policy, run by a real (temporary) Prefect server: transient
CUDA-style faults are retried, bad data and diverged training fail at once."""

from __future__ import annotations

import traceback

import pytest
import torch

from tests.support.training import fail_holding
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


def test_releasing_a_failed_attempt_frees_what_its_frames_held():
    freed: list[bool] = []
    try:
        fail_holding(1000, freed)
    except RuntimeError as error:
        kept = error  # as Prefect keeps it in the failed state while deciding to retry
    assert freed == []  # the traceback's frame still holds the tensor
    release_failed_attempt(kept)
    assert freed == [True]
    assert "fail_holding" in "".join(traceback.format_exception(kept))  # still printable
