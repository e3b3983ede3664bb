"""Library chatter kept out of what a person reads, in one place.

Only routine messages are quieted: warnings and errors of every library still show, and
every failure still raises. ``--verbose`` leaves everything as the libraries set it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

# INFO chatter on a fresh store or a new connection (MLflow creating its tables, alembic
# migrations, connection pools, git probing for a commit to tag the run with).
CHATTY_LOGGERS = ("mlflow", "alembic", "urllib3", "botocore", "boto3", "git", "httpx")


class _RoutineStates(logging.Filter):
    """Drops Prefect's "Finished in state Completed()" lines: each stage already says what
    it did in its own line. Failed, crashed and retried states still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno <= logging.INFO
            and record.getMessage().startswith("Finished in state Completed(")
        )


ROUTINE_STATES = _RoutineStates()


def quiet_libraries() -> None:
    """Routine INFO messages of chatty libraries off; their warnings and errors stay."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def mlflow_prints_off() -> Iterator[None]:
    """Silence MLflow's direct prints (e.g. "Successfully registered model ...") around one
    call whose outcome the caller logs itself; MLflow's logger writes to the same stream,
    so this is kept as narrow as one call, and exceptions still propagate."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    was = MLFLOW_LOGGING_STREAM.enabled
    MLFLOW_LOGGING_STREAM.enabled = False
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = was
