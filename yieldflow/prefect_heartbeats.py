"""Flow run heartbeats that stop as soon as their flow run ends.

Prefect 3.8 sends a flow run's heartbeats from a thread that sleeps in one-second steps
(`time.sleep(1)`, checking its stop event in between), and the sync engine joins that
thread when the run ends. So every flow run's end waits for the thread's current second
to run out: 0.66-0.92 s (median 0.90) in eight runs against a local server, twice per
pipeline run (the seasonal flow and its train-model subflow). With this module a run's end
takes 0.01 s, and Prefect's overhead on a 48-harvest run fell from 1.36-1.41 s to
0.92-1.04 s (benchmarks/findings.md, eleventh pass).

`install()` swaps in the same loop with the sleep replaced by a wait on the stop event:
the same heartbeat events at the same interval, the same template, context and join; only
the wake-up on stop is prompt. It swaps only the implementation it was written against
(its source's hash), so a Prefect that changes the function keeps its own, and
tests/test_prefect_heartbeats.py fails to say the swap is gone. Remove this module once
Prefect's loop waits on its stop event.
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import logging
import threading
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import prefect.flow_engine as flow_engine

log = logging.getLogger(__name__)

# The first 16 hex digits of the sha256 of `inspect.getsource(prefect.flow_engine.
# _send_heartbeats)` in Prefect 3.8.8 (source_sha256).
KNOWN_SOURCE_SHA256 = "83e152cb73a04e97"
_ORIGINAL = flow_engine._send_heartbeats


@contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Generator[None, None, None]:
    """Prefect 3.8.8's `_send_heartbeats`, waking on its stop event instead of per second."""
    heartbeat_seconds = engine.heartbeat_seconds
    if heartbeat_seconds is None:
        yield
        return
    heartbeat_seconds = max(heartbeat_seconds, flow_engine.MINIMUM_HEARTBEAT_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop_event = threading.Event()

    def heartbeat_loop() -> None:
        while not stop_event.is_set():
            state = engine.flow_run.state if engine.flow_run else None
            if state is not None and state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            stop_event.wait(heartbeat_seconds)

    # The caller's context, as Prefect does: its settings name the API to send to.
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(heartbeat_loop,), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop_event.set()
        if join_on_exit:
            thread.join(timeout=2)


def source_sha256(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def install() -> bool:
    """Swap Prefect's heartbeat context for `send_heartbeats`; False where Prefect's
    implementation is not the one this replaces (it is then left as it is)."""
    if flow_engine._send_heartbeats is send_heartbeats:
        return True
    try:
        known = source_sha256(_ORIGINAL) == KNOWN_SOURCE_SHA256
    except (OSError, TypeError):  # no source to compare (a frozen or stripped install)
        known = False
    if not known:
        log.debug("Prefect's flow run heartbeats are not the 3.8.8 ones: left as they are")
        return False
    flow_engine._send_heartbeats = send_heartbeats
    return True
