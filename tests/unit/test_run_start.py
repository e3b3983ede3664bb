"""Which dataset a run reads: a scheduled run must never fall back to the demo data
(the deployment as written, without the variable, is run in test_alerts_stack.py)."""

from __future__ import annotations

import pytest

from yieldflow.synthetic import default_data


def test_an_ad_hoc_run_without_a_dataset_keeps_the_built_in_demo_data(monkeypatch, tmp_path):
    monkeypatch.setattr(default_data, "default_dataset_path", lambda: tmp_path / "demo")
    assert default_data.dataset_for_run("", None) == str(tmp_path / "demo")
    assert default_data.dataset_for_run("s3://b/p", None) == "s3://b/p"
    assert default_data.dataset_for_run("s3://b/p", "seasonal-retrain") == "s3://b/p"


def test_a_deployment_run_without_a_dataset_is_refused_in_one_line(monkeypatch):
    def never():
        raise AssertionError("a deployment run must not touch the demo data")

    monkeypatch.setattr(default_data, "default_dataset_path", never)
    with pytest.raises(default_data.DatasetNotConfiguredError) as refused:
        default_data.dataset_for_run("", "seasonal-retrain")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("the deployment seasonal-retrain has no dataset: set it with ")
    assert "`prefect variable set yieldflow_dataset s3://<bucket>/<prefix> --overwrite`" in message
    assert "`prefect --no-prompt deploy --all`" in message
