"""How far a long stage is: one call for the stages, shown where a person looks.

A stage (ingestion, training, cross-validation) opens ``track(stage, total)`` and reports
``done`` as it goes. Inside a Prefect run that becomes a progress artifact on the run's
Artifacts tab; under `yieldflow run` in a terminal, a progress bar (the CLI opens it with
``terminal_progress``). Anywhere else (unit tests, CI logs, a worker) nothing is printed.
Progress is cosmetic: a failed update is logged once and never fails the stage.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Prefect artifact updates are API calls: send one only when the bar moved at least this
# much and this long after the previous one (the first and the final 100% always go).
STEP_PERCENT = 2.0
MIN_INTERVAL_S = 1.0
_KEY = re.compile(r"[^a-z0-9-]+")


def percent(done: float, total: float) -> float:
    """done/total as a percentage in [0, 100]; an empty stage is complete."""
    if total <= 0:
        return 100.0
    return min(100.0, max(0.0, 100.0 * done / total))


@dataclass
class Throttle:
    """Which updates to send: the first, then only after STEP_PERCENT *and* MIN_INTERVAL_S
    since the last one sent, and 100% exactly once (never dropped)."""

    step_percent: float = STEP_PERCENT
    min_interval_s: float = MIN_INTERVAL_S
    last_percent: float | None = None
    last_time: float = field(default=float("-inf"))

    def due(self, value: float, now: float) -> bool:
        last = self.last_percent
        if last is not None:
            if last >= 100.0:
                return False
            if value < 100.0 and (
                value - last < self.step_percent or now - self.last_time < self.min_interval_s
            ):
                return False
        self.last_percent, self.last_time = value, now
        return True


class Sink(Protocol):
    """One place progress is shown."""

    def update(self, done: int, total: int) -> None: ...

    def close(self, completed: bool) -> None: ...


class ThrottledSink:
    """Sends a percentage through ``send`` when the throttle lets it; ``send`` failing
    turns the sink off with one warning (progress must never fail a stage)."""

    def __init__(
        self,
        send: Callable[[float], None],
        name: str,
        throttle: Throttle | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[bool], None] | None = None,
    ) -> None:
        self._send, self._name, self._clock = send, name, clock
        self._throttle = throttle or Throttle()
        self._broken = False
        self._on_close = on_close

    def update(self, done: int, total: int) -> None:
        value = percent(done, total)
        if self._broken or not self._throttle.due(value, self._clock()):
            return
        try:
            self._send(value)
        except Exception as error:  # cosmetic: report once, keep the stage running
            self._broken = True
            logger.warning("progress of %s not shown: %s", self._name, error)

    def close(self, completed: bool) -> None:
        if self._on_close is not None:
            self._on_close(completed)


class StageProgress:
    """What a stage holds while it runs: ``update(done)`` or ``advance()``; thread-safe
    (S3 reads report from download threads)."""

    def __init__(self, stage: str, total: int, sinks: list[Sink]) -> None:
        self.stage, self.total, self.done = stage, total, 0
        self._sinks = sinks
        self._lock = threading.Lock()

    def update(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total
            for sink in self._sinks:
                sink.update(self.done, self.total)

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            self.done += steps
            for sink in self._sinks:
                sink.update(self.done, self.total)

    def complete(self) -> None:
        """Done, even if it ended early (early stopping): shown as 100%."""
        self.update(max(self.total, 1), max(self.total, 1))

    def close(self, completed: bool) -> None:
        for sink in self._sinks:
            sink.close(completed)


@contextlib.contextmanager
def track(stage: str, total: int, description: str | None = None) -> Iterator[StageProgress]:
    """Progress of one stage; 100% when the block ends normally, left as it was if it raises.

    ``stage`` names the artifact (``<stage>-progress``) and the bar; ``description`` says
    what is counted (e.g. "epochs, MLP seed 42").
    """
    text = f"{stage}: {description}" if description else stage
    sinks = [s for s in (_prefect_sink(stage, text), _terminal_sink(text, total)) if s]
    progress = StageProgress(stage, total, sinks)
    progress.update(0)
    try:
        yield progress
    except BaseException:
        progress.close(completed=False)
        raise
    progress.complete()
    progress.close(completed=True)


def artifact_key(stage: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for a stage name."""
    return _KEY.sub("-", stage.lower()).strip("-") + "-progress"


def _prefect_sink(stage: str, description: str) -> Sink | None:
    """A progress artifact of the current flow or task run; None outside a Prefect run."""
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    sender = ArtifactSender(artifact_key(stage), description)
    # The artifact is created at 0%: that counts as the first update sent.
    return ThrottledSink(
        sender.send,
        stage,
        Throttle(last_percent=0.0, last_time=time.monotonic()),
        on_close=sender.close,
    )


class ArtifactSender:
    """Keeps one progress artifact up to date from a background thread.

    Why: every update is an API round trip, and a stage must not wait on them (measured:
    ~0.4 s of a default run's orchestration overhead when sent inline). Only the latest
    value is kept; ``close`` waits briefly so the final 100% is on the server when the
    stage returns. Any API failure turns the sender off with one warning.
    """

    CLOSE_TIMEOUT_S = 10.0

    def __init__(self, key: str, description: str) -> None:
        from prefect.utilities.context import get_task_and_flow_run_ids

        self._key, self._description = key, description
        self._task_run_id, self._flow_run_id = get_task_and_flow_run_ids()
        self._latest: float | None = None
        self._closed = False
        self._wake = threading.Condition()
        # The run's settings (its API URL) live in context variables: carry them over.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name=f"progress-{key}", daemon=True
        )
        self._thread.start()

    def send(self, value: float) -> None:
        with self._wake:
            self._latest = value
            self._wake.notify()

    def close(self, completed: bool) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(self.CLOSE_TIMEOUT_S)

    def _next(self) -> tuple[float | None, bool]:
        with self._wake:
            while self._latest is None and not self._closed:
                self._wake.wait()
            value, self._latest = self._latest, None
            return value, self._closed

    def _run(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate

        try:
            client = get_client(sync_client=True)
            artifact = client.create_artifact(
                artifact=ArtifactCreate(
                    type="progress",
                    key=self._key,
                    description=self._description,
                    data=0.0,
                    task_run_id=self._task_run_id,
                    flow_run_id=self._flow_run_id,
                )
            )
            while True:
                value, closed = self._next()
                if value is not None:
                    client.update_artifact(
                        artifact_id=artifact.id, artifact=ArtifactUpdate(data=value)
                    )
                if closed and value is None:
                    return
        except Exception as error:  # cosmetic: report once, never fail the stage
            logger.warning("progress of %s not shown: %s", self._key, error)


# The terminal's progress bars while `yieldflow run` runs in a terminal; None otherwise.
_board: Any = None


class _TerminalSink:
    def __init__(self, board: Any, description: str, total: int) -> None:
        self._board = board
        self._task = board.add_task(description, total=max(total, 1))

    def update(self, done: int, total: int) -> None:
        self._board.update(self._task, completed=done, total=max(total, 1))

    def close(self, completed: bool) -> None:
        if not completed:
            self._board.stop_task(self._task)


def _terminal_sink(description: str, total: int) -> Sink | None:
    board = _board
    return _TerminalSink(board, description, total) if board is not None else None


@contextlib.contextmanager
def terminal_progress(console: Any) -> Iterator[bool]:
    """Show stages as progress bars on ``console`` (a rich Console) while the block runs.

    Only when the console is a terminal: in CI logs or a pipe nothing is drawn. Log lines
    printed through the same console appear above the bars. Yields whether bars are shown.
    """
    global _board
    if not console.is_terminal or _board is not None:
        yield False
        return
    from rich.default_styles import DEFAULT_STYLES
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.theme import Theme

    # Prefect's log console has a theme of its own, without the bars' styles: lend them.
    styles = {k: v for k, v in DEFAULT_STYLES.items() if k.startswith(("bar.", "progress."))}
    board = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with console.use_theme(Theme(styles)), board:
        _board = board
        try:
            yield True
        finally:
            _board = None
