from yieldflow.tracking.runs import redact_uri


def test_credentials_in_uris_are_removed():
    assert redact_uri("https://alice:s3cr3t@mlflow.example.org:5000/api") == (
        "https://***@mlflow.example.org:5000/api"
    )
    assert "s3cr3t" not in redact_uri("postgresql://u:s3cr3t@db/mlflow")
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert redact_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_contexts_carry_the_uri_without_credentials_and_take_them_back_locally(monkeypatch):
    from yieldflow.tracking.runs import TrackingContext, runs_url, with_local_credentials

    live = "http://alice:s3cr3t@127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live)
    context = TrackingContext(redact_uri(live), "e", "3", "run", {})
    assert "s3cr3t" not in repr(context)
    assert context.live_uri() == live
    assert with_local_credentials("http://***@other-host:5000") == "http://***@other-host:5000"
    assert runs_url(context) == "http://127.0.0.1:5000/#/experiments/3/runs"


def test_tracking_guard_keeps_the_first_failure_and_skips_later_steps():
    import pytest
    import requests

    from yieldflow.tracking.runs import TrackingGuard, TrackingUnavailableError

    guard = TrackingGuard("http://bob:hunter2@mlflow:5000")
    calls: list[str] = []

    def refused(name: str) -> None:
        calls.append(name)
        raise requests.exceptions.ConnectionError("http://bob:hunter2@mlflow:5000 refused")

    assert guard.call(lambda: "run-1") == "run-1"
    assert guard.call(refused, "baseline") is None
    assert guard.call(refused, "report") is None  # skipped: MLflow already failed for good
    assert calls == ["baseline"]
    assert "hunter2" not in (guard.failure or "")
    with pytest.raises(TrackingUnavailableError) as raised:
        guard.raise_if_failed("/runs/abc")
    assert str(raised.value) == (
        "MLflow at http://***@mlflow:5000 failed after retries (ConnectionError); this run's "
        "report, summary and trained MLP (model/) are kept in /runs/abc"
    )
    with pytest.raises(ValueError):  # not a tracking failure: the run's own error
        TrackingGuard("x").call(int, "not a number")
