"""MLflow side effects: one parent run per pipeline run, one nested run per model.

Every model run gets the same metric names (val_rmse, test_rmse, ...) and the same tags
(pipeline run id, dataset fingerprint, split), so the MLflow compare view lines them up.
Run ids are passed explicitly: MLflow's active run is thread-local and Prefect tasks may
run in other threads.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import mlflow
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient

TAG_PIPELINE_RUN = "yieldflow.pipeline_run_id"
TAG_FINGERPRINT = "yieldflow.dataset_fingerprint"
TAG_SPLIT = "yieldflow.features.split"
TAG_MODEL = "yieldflow.model"
TAG_MODEL_URI = "yieldflow.model_uri"  # where the run's logged model is (models:/m-...)
# MLflow's own source tags; without them a run's source is Prefect's engine.py.
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"

# Every Prefect task that talks to MLflow retries this way: a restarting server (tens of
# seconds) fits inside the delays; a server that stays down fails the step in under a minute.
TRACKING_RETRIES = 3
TRACKING_RETRY_DELAYS_S = [2, 10, 30]

T = TypeVar("T")


class TrackingUnavailableError(RuntimeError):
    """MLflow stayed unreachable after the retries (one line, with where outputs are kept)."""


def is_tracking_failure(error: BaseException) -> bool:
    """An MLflow server error or a failed HTTP request to it (refused, reset, timed out)."""
    import requests
    from mlflow.exceptions import MlflowException

    return isinstance(error, MlflowException | requests.exceptions.RequestException)


class TrackingGuard:
    """Runs a pipeline run's MLflow steps so that MLflow going away loses nothing else.

    A step is a Prefect task with its own retries. The first one that still fails with a
    tracking failure is recorded and every later step is skipped (returns None), so the
    models are still trained and the report, summary and model still written to the run
    folder; ``raise_if_failed`` then fails the run with one line naming that folder.
    """

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.failure: str | None = None  # "ExceptionType: first line" of the first failure

    def call(self, step: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        if self.failure is not None:
            return None
        try:
            return step(*args, **kwargs)
        except Exception as error:
            if not is_tracking_failure(error):
                raise
            self.record(describe_failure(error))
            return None

    def record(self, failure: str | None) -> None:
        """Keep the first failure (a step that reports it instead of raising, e.g. a child
        flow that trained but could not log)."""
        if failure and self.failure is None:
            self.failure = failure

    def raise_if_failed(self, run_folder: str | Path) -> None:
        if self.failure is not None:
            raise TrackingUnavailableError(
                f"MLflow at {redact_uri(self.tracking_uri)} failed after retries "
                f"({self.failure.split(':', 1)[0]}); this run's report, summary and trained "
                f"MLP (model/) are kept in {run_folder}"
            )


def describe_failure(error: BaseException) -> str:
    """One line about a tracking failure, with any credentials in URLs removed."""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {_redact_urls(first)[:300]}"


def _redact_urls(text: str) -> str:
    return re.sub(r"(\w+://)[^/\s@]+@", r"\1***@", text)


def flow_source(flow_file: str | Path) -> dict[str, str]:
    """MLflow source tags naming the flow file a run came from (flows/<name>.py)."""
    path = Path(flow_file)
    return {TAG_SOURCE_NAME: f"{path.parent.name}/{path.name}", TAG_SOURCE_TYPE: "JOB"}


def resolve_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else an embedded SQLite store in the working folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def redact_uri(uri: str) -> str:
    """Drop user:password from a URI so it can be logged or published."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_local_credentials(uri: str) -> str:
    """The real tracking URI for a redacted one.

    Contexts and flow parameters carry the URI without user:password (Prefect stores
    parameters and may persist results); each process takes the credentials back from its
    own MLFLOW_TRACKING_URI when that names the same server.
    """
    local = resolve_tracking_uri()
    return local if redact_uri(local) == uri else uri


@dataclass(frozen=True)
class TrackingContext:
    """What every task needs to log into the same experiment and parent run.

    tracking_uri is redacted (safe to pass as a flow parameter); use live_uri() to talk.
    """

    tracking_uri: str
    experiment: str
    experiment_id: str
    parent_run_id: str
    shared_tags: Mapping[str, str]

    def live_uri(self) -> str:
        return with_local_credentials(self.tracking_uri)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.live_uri())


def start_pipeline_run(
    tracking_uri: str, experiment: str, run_name: str, tags: Mapping[str, str]
) -> TrackingContext:
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
    return TrackingContext(
        redact_uri(tracking_uri), experiment, experiment_id, run.info.run_id, dict(tags)
    )


def end_pipeline_run(context: TrackingContext, status: str = "FINISHED") -> None:
    context.client().set_terminated(context.parent_run_id, status=status)


def log_model_run(
    context: TrackingContext,
    model_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    log_model: Callable[[], ModelInfo] | None = None,
    curves: Mapping[str, list[float]] | None = None,
    files: Mapping[str, bytes | str] | None = None,
    dataset: mlflow.data.Dataset | None = None,
) -> str:
    """One nested run for one model; returns its run id.

    ``log_model`` is called with the run active (mlflow.<flavor>.log_model needs that)
    and its model URI is kept as a tag, so the registry step can find it;
    ``curves`` are logged as per-epoch steps starting at 1.
    """
    # Ending a run prints "View run … at <tracking URI>", credentials included: not to logs.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    mlflow.set_tracking_uri(context.live_uri())
    tags = {**context.shared_tags, TAG_MODEL: model_name}
    with mlflow.start_run(
        experiment_id=context.experiment_id,
        run_name=model_name,
        parent_run_id=context.parent_run_id,
        tags=tags,
    ) as run:
        mlflow.log_params({k: _param_value(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        if curves:
            _log_curves(run.info.run_id, context.client(), curves)
        if dataset is not None:
            mlflow.log_input(dataset, context="training")
        for name, content in (files or {}).items():
            log_bytes(context.client(), run.info.run_id, name, content)
        if log_model is not None:
            mlflow.set_tag(TAG_MODEL_URI, log_model().model_uri)
        return run.info.run_id


def _log_curves(run_id: str, client: MlflowClient, curves: Mapping[str, list[float]]) -> None:
    from mlflow.entities import Metric

    timestamp = int(1000 * time.time())
    metrics = [
        Metric(key=name, value=float(value), timestamp=timestamp, step=step)
        for name, values in curves.items()
        for step, value in enumerate(values, start=1)
    ]
    for start in range(0, len(metrics), 1000):  # MLflow caps a batch at 1000 metrics
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def log_bytes(client: MlflowClient, run_id: str, name: str, content: bytes | str) -> None:
    """Log an in-memory file as a run artifact under its own name."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        folder_in_run = Path(name).parent.as_posix()
        client.log_artifact(run_id, str(path), None if folder_in_run == "." else folder_in_run)


def _param_value(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) else str(value)


def runs_url(context: TrackingContext, run_id: str | None = None) -> str:
    """Link to the experiment (or one run) in the MLflow UI.

    For a server store it is the server itself; for the embedded SQLite store it is where
    `mlflow ui --backend-store-uri <store>` serves by default (MLFLOW_UI_URL overrides).
    """
    uri = context.tracking_uri
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)  # no userinfo at all: the browser asks for a login if needed
        base = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    else:
        base = os.environ.get("MLFLOW_UI_URL", "http://127.0.0.1:5000")
    # /runs: the bare experiment URL lands on MLflow 3's GenAI overview, not the runs list
    link = f"{base.rstrip('/')}/#/experiments/{context.experiment_id}/runs"
    return f"{link}/{run_id}" if run_id else link
