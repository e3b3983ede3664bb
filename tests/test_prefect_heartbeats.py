"""The flow run heartbeat context that stops with its flow run (yieldflow/prefect_heartbeats.py):
the same heartbeats as Prefect's, no per-second sleep to wait out at the end."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import prefect.flow_engine as flow_engine
import pytest

from yieldflow import prefect_heartbeats
from yieldflow.prefect_heartbeats import send_heartbeats

REPO_ROOT = Path(__file__).resolve().parents[1]


class FakeEngine:
    """What the heartbeat context reads of Prefect's flow run engine."""

    def __init__(self, heartbeat_seconds: float | None) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.flow_run = types.SimpleNamespace(state=None)
        self.logger = types.SimpleNamespace(debug=lambda *a, **k: None)
        self.sent: list[tuple[Any, Any]] = []
        self.beat = threading.Semaphore(0)

    def _build_heartbeat_event_template(self) -> tuple[str, list[str]]:
        return "resource", ["related"]

    def _emit_flow_run_heartbeat(self, resource: Any, related: Any) -> None:
        self.sent.append((resource, related))
        self.beat.release()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every `time.sleep` Prefect's flow engine module makes (its heartbeat loop's steps)."""
    calls: list[float] = []
    fake_time = types.SimpleNamespace(sleep=lambda seconds: calls.append(seconds))
    monkeypatch.setattr(flow_engine, "time", fake_time)
    return calls


def test_flows_run_with_the_prompt_heartbeats():
    """Importing the flows swaps them in; this fails when Prefect's implementation is no
    longer the one the swap was written against (see the module's docstring)."""
    import flows  # noqa: F401

    assert flow_engine._send_heartbeats is send_heartbeats


def test_heartbeats_repeat_at_their_interval_and_the_end_does_not_sleep(monkeypatch, sleeps):
    monkeypatch.setattr(flow_engine, "MINIMUM_HEARTBEAT_INTERVAL", 0)
    engine = FakeEngine(heartbeat_seconds=0.01)
    threads_before = set(threading.enumerate())
    with send_heartbeats(engine):
        for _ in range(3):
            assert engine.beat.acquire(timeout=30), "no heartbeat"
    assert engine.sent[:3] == [("resource", ["related"])] * 3
    assert not sleeps  # Prefect's loop would have slept here, and the end waited for it
    assert set(threading.enumerate()) <= threads_before  # the heartbeat thread was joined


def test_prefects_own_loop_sleeps_in_steps_the_swap_avoids(sleeps):
    """The reason for the swap, shown on Prefect's implementation with the same engine."""
    engine = FakeEngine(heartbeat_seconds=30)
    with prefect_heartbeats._ORIGINAL(engine):
        assert engine.beat.acquire(timeout=30)
        while not sleeps:  # the fake sleep returns at once: the loop steps through 30
            threading.Event().wait(0.001)
    assert sleeps and set(sleeps) == {1}


def test_no_heartbeats_when_they_are_off():
    engine = FakeEngine(heartbeat_seconds=None)
    with send_heartbeats(engine):
        pass
    assert engine.sent == []


def test_a_final_state_stops_the_heartbeats(monkeypatch):
    monkeypatch.setattr(flow_engine, "MINIMUM_HEARTBEAT_INTERVAL", 0)
    engine = FakeEngine(heartbeat_seconds=0.01)
    engine.flow_run.state = types.SimpleNamespace(is_final=lambda: True)
    with send_heartbeats(engine):
        pass
    assert engine.sent == []


def test_an_unknown_prefect_implementation_is_left_alone(monkeypatch):
    monkeypatch.setattr(flow_engine, "_send_heartbeats", prefect_heartbeats._ORIGINAL)
    monkeypatch.setattr(prefect_heartbeats, "KNOWN_SOURCE_SHA256", "not-this-one")
    assert prefect_heartbeats.install() is False
    assert flow_engine._send_heartbeats is prefect_heartbeats._ORIGINAL
    monkeypatch.undo()
    assert prefect_heartbeats.install() is True


ENTRYPOINTS = sorted(
    set(re.findall(r"entrypoint:\s*(\S+)", (REPO_ROOT / "prefect.yaml").read_text()))
)


@pytest.mark.parametrize("entrypoint", ENTRYPOINTS)
def test_a_worker_loading_a_deployments_flow_gets_the_swap(entrypoint):
    """A worker loads a deployment's flow file by path (not as part of the flows package),
    so each flow file must import what flows/__init__.py sets up."""
    code = (
        "import prefect.flow_engine as fe\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        f"load_flow_from_entrypoint({entrypoint!r})\n"
        "from yieldflow.prefect_heartbeats import send_heartbeats\n"
        "assert fe._send_heartbeats is send_heartbeats, 'not swapped'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
