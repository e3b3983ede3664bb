"""How far a long stage is, shown where a person looks: a Prefect progress artifact in a
run, a rich progress bar under `yieldflow run` in a terminal, nothing anywhere else.

Progress is cosmetic: an artifact update that fails is logged once and never fails the
stage. Artifact updates are API calls, so one goes out only when the bar moved at least
STEP_PERCENT and MIN_INTERVAL_S after the previous one (the final 100% always goes).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

STEP_PERCENT = 2.0
MIN_INTERVAL_S = 1.0
_KEY = re.compile(r"[^a-z0-9-]+")
_board: Any = None  # the rich Progress of `yieldflow run` in a terminal, else None


def percent(done: float, total: float) -> float:
    """done/total as a percentage in [0, 100]; an empty stage is complete."""
    return 100.0 if total <= 0 else min(100.0, max(0.0, 100.0 * done / total))


def artifact_key(stage: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for a stage name."""
    return _KEY.sub("-", stage.lower()).strip("-") + "-progress"


class StageProgress:
    """What a stage holds while it runs: ``update(done)`` or ``advance()``; thread-safe
    (S3 reads report from download threads)."""

    def __init__(self, stage: str, total: int, description: str) -> None:
        self.stage, self.total, self.done = stage, total, 0
        self._lock = threading.Lock()
        self._bar = _board.add_task(description, total=max(total, 1)) if _board else None
        self._artifact = _create_artifact(stage, description)
        self._sent, self._sent_at = 0.0, time.monotonic()

    def update(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self.done = done
            self.total = self.total if total is None else total
            self._show()

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            self.done += steps
            self._show()

    def complete(self) -> None:
        """Done, even if it ended early (early stopping): shown as 100%."""
        self.update(max(self.total, 1), max(self.total, 1))

    def stop(self) -> None:
        if self._bar is not None and _board is not None:
            _board.stop_task(self._bar)

    def _show(self) -> None:
        if self._bar is not None and _board is not None:
            _board.update(self._bar, completed=self.done, total=max(self.total, 1))
        value = percent(self.done, self.total)
        due = value >= 100.0 or (
            value - self._sent >= STEP_PERCENT
            and time.monotonic() - self._sent_at >= MIN_INTERVAL_S
        )
        if self._artifact is None or value <= self._sent or not due:
            return
        from prefect.artifacts import update_progress_artifact

        try:
            update_progress_artifact(self._artifact, value)
        except Exception as error:  # cosmetic: say so once, keep the stage running
            logger.warning("progress of %s not shown: %s", self.stage, error)
            self._artifact = None
        self._sent, self._sent_at = value, time.monotonic()


def _create_artifact(stage: str, description: str) -> Any:
    """A progress artifact of the current flow or task run at 0%; None outside a run."""
    from prefect.artifacts import create_progress_artifact
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    try:
        return create_progress_artifact(0.0, key=artifact_key(stage), description=description)
    except Exception as error:  # cosmetic
        logger.warning("progress of %s not shown: %s", stage, error)
        return None


@contextlib.contextmanager
def track(stage: str, total: int, description: str | None = None) -> Iterator[StageProgress]:
    """Progress of one stage; 100% when the block ends normally, left as it was if it raises.

    ``stage`` names the artifact (``<stage>-progress``) and the bar; ``description`` says
    what is counted (e.g. "epochs, MLP seed 42").
    """
    progress = StageProgress(stage, total, f"{stage}: {description}" if description else stage)
    try:
        yield progress
    except BaseException:
        progress.stop()
        raise
    progress.complete()


@contextlib.contextmanager
def terminal_progress(console: Any) -> Iterator[bool]:
    """Show stages as progress bars on ``console`` (a rich Console) while the block runs.

    Only when the console is a terminal: in CI logs or a pipe nothing is drawn. Yields
    whether bars are shown.
    """
    global _board
    if not console.is_terminal or _board is not None:
        yield False
        return
    from rich.default_styles import DEFAULT_STYLES
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.theme import Theme

    # Prefect's log console has a theme of its own, without the bars' styles: lend them.
    styles = {k: v for k, v in DEFAULT_STYLES.items() if k.startswith(("bar.", "progress."))}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    board = Progress(*columns, TimeElapsedColumn(), console=console)
    with console.use_theme(Theme(styles)), board:
        _board = board
        try:
            yield True
        finally:
            _board = None
