"""Prefect tasks: train the MLP (retrying transient device faults) and study its patience."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import TrainingConfig
from yieldflow.features.split import ModelData
from yieldflow.ml.device_errors import is_transient_device_error, release_failed_attempt
from yieldflow.ml.mlp import TrainingResult, small_data_gpu_hint, train_mlp
from yieldflow.ml.patience_study import PatienceStudy, study_patience
from yieldflow.reporting.progress import track


def retry_on_transient_device_error(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry_condition_fn: retry CUDA OOM / device faults, fail at once otherwise.

    A retry is given the memory the failed attempt held (`release_failed_attempt`).
    """
    try:
        state.result()
    except Exception as error:  # the task's own exception, re-raised by result()
        if not is_transient_device_error(error):
            return False
        release_failed_attempt(error)
        return True
    return False


# Every task that trains on the device: transient device faults retried twice, nothing cached.
ON_DEVICE: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": retry_on_transient_device_error,
    "cache_policy": NO_CACHE,
}


@task(
    name="train-mlp",
    task_run_name="train-mlp-seed-{seed}",
    **ON_DEVICE,
)
def train(data: ModelData, config: TrainingConfig, seed: int) -> TrainingResult:
    logger = get_run_logger()
    every = max(1, config.max_epochs // 10)
    with track("training", config.max_epochs, f"MLP epochs, seed {seed}") as progress:

        def report_epoch(epoch: int, train_loss: float, val_loss: float) -> None:
            progress.update(epoch)
            if epoch == 1 or epoch % every == 0:
                logger.debug(
                    "epoch %d: train loss %.4f, validation loss %.4f", epoch, train_loss, val_loss
                )

        result = train_mlp(
            data.x["train"],
            data.y["train"],
            data.x["val"],
            data.y["val"],
            config,
            seed,
            report_epoch,
        )
    logger.info(
        "MLP trained on %s in %.1f s: best epoch %d, stopped at %d (%s)",
        result.device,
        result.seconds,
        result.best_epoch,
        result.stopped_epoch,
        result.stop_reason,
    )
    hint = small_data_gpu_hint(result.device, len(data.y["train"]))
    if hint:
        logger.info(hint)
    return result


@task(
    name="study-patience",
    task_run_name="study-patience-seed-{seed}",
    **ON_DEVICE,
)
def patience_study(data: ModelData, config: TrainingConfig, seed: int) -> PatienceStudy:
    """Train once more for all max_epochs (same seed) and replay each patience on it."""
    with track("patience-study", config.max_epochs, "MLP epochs, no early stopping") as progress:
        full = train_mlp(
            data.x["train"],
            data.y["train"],
            data.x["val"],
            data.y["val"],
            config,
            seed,
            lambda epoch, _train, _val: progress.update(epoch),
            early_stopping=False,
        )
    study = study_patience(full.val_loss, config.patience, config.min_delta)
    get_run_logger().info(study.justification())
    return study
