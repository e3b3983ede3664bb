"""Progress of long stages: which updates are sent (pure), the terminal bar, and the
Prefect progress artifact a flow run leaves behind."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from yieldflow.reporting import progress as progress_module
from yieldflow.reporting.progress import (
    StageProgress,
    artifact_key,
    percent,
    terminal_progress,
    track,
)
from yieldflow.tasks.run_names import seasonal_name_with_season, seasons_label


class FakeArtifacts:
    """Prefect's create/update_progress_artifact, recorded, on a clock the test moves."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        import prefect.artifacts

        self.now, self.sent = 0.0, []
        self.fail = fail
        monkeypatch.setattr(progress_module.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(progress_module, "_create_artifact", lambda *a: "artifact-id")
        monkeypatch.setattr(prefect.artifacts, "update_progress_artifact", self.update)

    def update(self, artifact_id: str, value: float) -> None:
        if self.fail:
            raise ConnectionError("API down")
        self.sent.append(value)


def test_percent_is_bounded_and_an_empty_stage_is_complete():
    assert percent(1, 4) == 25.0
    assert percent(5, 4) == 100.0
    assert percent(-1, 4) == 0.0
    assert percent(0, 0) == 100.0


def test_updates_need_both_a_step_and_an_interval(monkeypatch: pytest.MonkeyPatch):
    api = FakeArtifacts(monkeypatch)
    # 1000 epochs in 10 s (one per 10 ms): at most one update a second gets through.
    with track("training", 1000) as stage:
        for epoch in range(1, 1001):
            api.now = epoch / 100
            stage.update(epoch)
    assert len(api.sent) == 10 and api.sent[-1] == 100.0  # 10%, 20%, ... 100%, once each
    # Slow epochs (10 s each) of a 1000-epoch run: a step of 0.1% is too small to send.
    api.sent.clear()
    with pytest.raises(RuntimeError), track("training", 1000) as stage:
        for epoch in range(1, 41):
            api.now += 10.0
            stage.update(epoch)
        raise RuntimeError("stopped")
    assert api.sent == [2.0, 4.0]  # and no 100%: the stage failed


def test_an_early_stopped_stage_ends_at_100_percent_once(monkeypatch: pytest.MonkeyPatch):
    api = FakeArtifacts(monkeypatch)
    with track("training", 500) as stage:
        stage.advance()
        stage.advance(2)
        assert stage.done == 3
        stage.update(60, 400)  # early stopping at epoch 60 of what is now 400
    assert (stage.done, stage.total) == (400, 400) and api.sent == [100.0]


def test_a_failing_update_warns_once_and_the_stage_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    api = FakeArtifacts(monkeypatch, fail=True)
    with track("training", 10) as stage:
        for epoch in range(1, 11):
            api.now += 5.0
            stage.update(epoch)
    warnings = [r for r in caplog.records if "progress of training not shown" in r.message]
    assert len(warnings) == 1 and stage.done == 10


def test_outside_a_run_and_a_terminal_nothing_is_shown(capsys: pytest.CaptureFixture[str]):
    with track("training", 3) as stage:
        assert stage._artifact is None and stage._bar is None
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
    from yieldflow.io.storage import read_files
    from yieldflow.tasks.ingestion import CountingSource

    stage = StageProgress("ingestion", 1, "files read")
    source = CountingSource(FakeS3(), stage)
    keys = source.list_files()
    assert source.max_workers == 4 and source.uri == "s3://bucket/data"
    contents = dict(read_files(source, keys))
    assert contents["sensors/f3.csv"] == b"sensors/f3.csv"
    assert (stage.done, stage.total) == (40, 41)  # the last step is validation
