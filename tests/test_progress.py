"""Progress of long stages: which updates are sent (pure), the terminal bar, and the
Prefect progress artifact a flow run leaves behind."""

from __future__ import annotations

import asyncio
import io

import pytest
from prefect import flow, task
from rich.console import Console

from yieldflow import progress as progress_module
from yieldflow.progress import (
    StageProgress,
    Throttle,
    ThrottledSink,
    artifact_key,
    percent,
    terminal_progress,
    track,
)
from yieldflow.run_names import seasonal_name_with_season, seasons_label


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sent_percentages(steps: list[tuple[int, float]], total: int) -> list[float]:
    """What a throttled sink sends for (done, seconds since start) updates."""
    clock, sent = Clock(), []
    sink = ThrottledSink(sent.append, "stage", clock=clock)
    for done, at in steps:
        clock.now = at
        sink.update(done, total)
    return sent


def test_percent_is_bounded_and_an_empty_stage_is_complete():
    assert percent(1, 4) == 25.0
    assert percent(5, 4) == 100.0
    assert percent(-1, 4) == 0.0
    assert percent(0, 0) == 100.0


def test_updates_need_both_a_step_and_an_interval():
    # 1000 epochs in 10 s (one per 10 ms): at most one update a second gets through.
    steps = [(epoch, epoch / 100) for epoch in range(0, 1001)]
    sent = sent_percentages(steps, 1000)
    assert sent[0] == 0.0 and sent[-1] == 100.0
    assert len(sent) == 11  # 0%, then every second (10%, 20%, ...), the last being 100%
    # Slow epochs (10 s each) of a 1000-epoch run: a step of 0.1% is too small to send.
    slow = sent_percentages([(epoch, epoch * 10.0) for epoch in range(0, 41)], 1000)
    assert slow == [0.0, 2.0, 4.0]


def test_hundred_percent_is_sent_once_even_when_throttled():
    sent = sent_percentages([(0, 0.0), (99, 0.01), (100, 0.02), (100, 0.03)], 100)
    assert sent == [0.0, 100.0]


def test_a_failing_sink_warns_once_and_stops(caplog: pytest.LogCaptureFixture):
    calls = []

    def send(value: float) -> None:
        calls.append(value)
        raise ConnectionError("API down")

    clock = Clock()
    sink = ThrottledSink(send, "training", Throttle(min_interval_s=0), clock=clock)
    for done in range(0, 101, 10):
        sink.update(done, 100)
    assert calls == [0.0]
    assert [r.getMessage() for r in caplog.records] == ["progress of training not shown: API down"]


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[int, int]] = []
        self.closed: list[bool] = []

    def update(self, done: int, total: int) -> None:
        self.updates.append((done, total))

    def close(self, completed: bool) -> None:
        self.closed.append(completed)


def test_stage_progress_advances_and_completes_early_stopped_stages():
    sink = Recorder()
    stage = StageProgress("training", 500, [sink])
    stage.advance()
    stage.advance(2)
    stage.update(60, 400)
    stage.complete()  # early stopping at epoch 60: still the end of the stage
    assert sink.updates == [(1, 500), (3, 500), (60, 400), (400, 400)]


def test_track_completes_on_success_and_not_on_failure(monkeypatch: pytest.MonkeyPatch):
    sinks: list[Recorder] = []

    def recorder(*_args: object) -> Recorder:
        sinks.append(Recorder())
        return sinks[-1]

    monkeypatch.setattr(progress_module, "_prefect_sink", recorder)
    with track("ingestion", 4) as stage:
        stage.advance()
    with pytest.raises(ValueError), track("training", 10) as stage:
        stage.update(3)
        raise ValueError("diverged")
    assert sinks[0].updates[-1] == (4, 4) and sinks[0].closed == [True]
    assert sinks[1].updates[-1] == (3, 10) and sinks[1].closed == [False]


def test_outside_a_run_and_a_terminal_nothing_is_shown(capsys: pytest.CaptureFixture[str]):
    with track("training", 3) as stage:
        assert stage._sinks == []
        stage.update(3)
    assert capsys.readouterr() == ("", "")


def test_terminal_bar_only_on_a_terminal():
    pipe = Console(file=io.StringIO(), force_terminal=False)
    with terminal_progress(pipe) as shown, track("training", 5) as stage:
        stage.update(5)
    assert shown is False and pipe.file.getvalue() == ""

    screen = Console(file=io.StringIO(), force_terminal=True, width=100)
    with terminal_progress(screen) as shown, track("cross-validation", 2, "folds") as stage:
        stage.update(1)
    assert shown is True
    assert "cross-validation: folds" in screen.file.getvalue()
    assert "2/2" in screen.file.getvalue()
    assert progress_module._board is None  # the bars end with the block


def test_names():
    assert artifact_key("Cross validation") == "cross-validation-progress"
    assert seasons_label([2023, 2021, 2022]) == "2021-2023"
    assert seasons_label([2024]) == "2024"
    assert seasonal_name_with_season("seasonal-20261126-115138", 2025) == (
        "seasonal-2025-20261126-115138"
    )
    assert seasonal_name_with_season("my-own-run", 2025) is None


@task(task_run_name="count-to-{n}")
def count(n: int) -> int:
    with track("counting", n, "numbers") as stage:
        for i in range(1, n + 1):
            stage.update(i)
    return n


@flow
def counting_flow(n: int) -> str:
    count(n)
    from prefect.runtime import flow_run

    return str(flow_run.id)


def test_a_flow_run_leaves_its_progress_artifact_at_100(prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = counting_flow(200)

    async def read():
        async with get_client() as client:
            runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            return await client.read_artifacts(flow_run_filter=runs)

    artifacts = [a for a in asyncio.run(read()) if a.key == "counting-progress"]
    assert len(artifacts) == 1
    assert artifacts[0].type == "progress"
    assert float(artifacts[0].data) == 100.0
    assert artifacts[0].description == "counting: numbers"


class FakeS3:
    """A source read by several threads, as S3 is."""

    uri = "s3://bucket/data"
    max_workers = 4

    def list_files(self) -> list[str]:
        return [f"sensors/f{i}.csv" for i in range(40)]

    def read_bytes(self, key: str) -> bytes:
        return key.encode()

    def fingerprint(self) -> str:
        return "fp"


def test_ingestion_counts_every_file_read_from_download_threads():
    from tasks.ingestion import CountingSource
    from yieldflow.storage import read_files

    sink = Recorder()
    stage = StageProgress("ingestion", 1, [sink])
    source = CountingSource(FakeS3(), stage)
    keys = source.list_files()
    assert source.max_workers == 4 and source.uri == "s3://bucket/data"
    contents = dict(read_files(source, keys))
    assert contents["sensors/f3.csv"] == b"sensors/f3.csv"
    assert (stage.done, stage.total) == (40, 41)  # the last step is validation
    assert sink.updates[0] == (0, 41)
