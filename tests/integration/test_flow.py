"""The whole seasonal flow under a temporary Prefect server, checked through the Prefect
and MLflow clients (what a user would see), on a small generated dataset."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from yieldflow.config import (
    BaselineConfig,
    DataConfig,
    EvaluationConfig,
    ForecastConfig,
    PipelineConfig,
    TrackingConfig,
    TrainingConfig,
)
from yieldflow.flows.seasonal_pipeline import seasonal_pipeline
from yieldflow.tracking.runs import TAG_PIPELINE_RUN

MODELS = {"mlp", "random_forest", "linear", "mean_baseline"}
CV_MODELS = MODELS | {"farm_mean", "crop_mean", "farm_crop_mean"}


@pytest.fixture(scope="module")
def run(prefect_server, forecastable_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("flow")
    config = PipelineConfig(
        data=DataConfig(data=str(forecastable_dataset)),
        training=TrainingConfig(max_epochs=120, patience=10),
        baselines=BaselineConfig(rf_n_estimators=20),
        evaluation=EvaluationConfig(mlp_seeds=2),
        tracking=TrackingConfig(experiment="flow-test", output_dir=str(out / "runs")),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
        summary = seasonal_pipeline(config)
    return summary, f"sqlite:///{out / 'mlflow.db'}"


def test_summary_has_the_stable_keys(run):
    summary, _ = run
    data = summary["data"]
    for key in (
        "harvests_used",
        "rows_read",
        "rows_accepted",
        "rows_quarantined",
        "duplicate_rows_dropped",
        "readings_nulled",
    ):
        assert isinstance(data[key], int)
    assert data["rows_read"] == (
        data["rows_accepted"] + data["rows_quarantined"] + data["duplicate_rows_dropped"]
    )
    assert data["seasons"] == {"train": [2021, 2022], "val": [2023], "test": [2024]}
    assert data["harvests_used"] == 20
    assert set(summary["models"]) == MODELS
    for metrics in summary["models"].values():
        assert {"val_rmse", "test_rmse", "test_mae", "test_r2", "mlflow_run_id"} <= set(metrics)
    mlp = summary["models"]["mlp"]
    assert mlp["device"] == "cpu" and mlp["patience"] == 10
    assert 1 <= mlp["best_epoch"] <= mlp["stopped_epoch"] <= 120
    assert summary["verdict"].endswith(".") and "MLP" in summary["verdict"]
    assert summary["prefect"]["flow_run_id"]
    json.dumps(summary)  # JSON-able as it is


def test_mlflow_has_one_comparable_run_per_model(run):
    summary, uri = run
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("flow-test")
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{TAG_PIPELINE_RUN}` = '{summary['prefect']['flow_run_id']}'",
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1  # one pipeline run; everything else is nested under it
    parent_id = parents[0].info.run_id
    children = {
        r.data.tags["yieldflow.model"]: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent_id
    }
    assert set(children) == MODELS | {"evaluation", "champion"}
    children.pop("evaluation")
    champion = children.pop("champion")
    assert champion.info.run_id == summary["champion"]["mlflow_run_id"]
    assert champion.data.params["training_seasons"] == "2021,2022,2023,2024"
    assert 0 <= champion.data.metrics["backtest_interval_coverage"] <= 1
    parent_ids = {parent_id}
    for name, child in children.items():
        assert child.info.run_id == summary["models"][name]["mlflow_run_id"]
        assert {"val_rmse", "test_rmse", "test_mae", "test_r2"} <= set(child.data.metrics)
        assert child.data.tags["yieldflow.dataset_fingerprint"]
    mlp = children["mlp"]
    # MLflow names the flow file each run came from, not Prefect's engine.py.
    assert parents[0].data.tags["mlflow.source.name"] == "flows/seasonal_pipeline.py"
    assert children["random_forest"].data.tags["mlflow.source.name"] == (
        "flows/seasonal_pipeline.py"
    )
    assert mlp.data.tags["mlflow.source.name"] == "flows/train_model.py"
    history = client.get_metric_history(mlp.info.run_id, "val_loss")
    assert [m.step for m in history] == list(
        range(1, summary["models"]["mlp"]["stopped_epoch"] + 1)
    )
    for param in (
        "learning_rate",
        "max_epochs",
        "architecture",
        "patience",
        "min_delta",
        "batch_size",
        "seed",
        "device",
    ):
        assert param in mlp.data.params
    artifacts = {a.path for a in client.list_artifacts(mlp.info.run_id)}
    assert "loss_curve.png" in artifacts
    assert client.search_logged_models([experiment.experiment_id])  # models were logged
    parent_artifacts = {a.path for a in client.list_artifacts(parent_ids.pop())}
    assert {"report.md", "loss_curve.png", "summary.json"} <= parent_artifacts


def test_prefect_artifacts_show_the_report_and_metrics(run):
    summary, _ = run
    flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[summary["prefect"]["flow_run_id"]]))

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(flow_run_filter=flow_filter)

    artifacts = {a.key: a for a in asyncio.run(read())}
    report = artifacts["yield-report"]
    assert report.type == "markdown"
    assert "data:image/png;base64," in report.data
    assert "Why this patience" in report.data and summary["verdict"] in report.data
    table = artifacts["model-metrics"]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert {row["model"] for row in rows} == MODELS
    assert "/#/experiments/1/runs" in artifacts["mlflow-runs"].data
    quality = artifacts["data-quality"].data
    quality = json.loads(quality) if isinstance(quality, str) else quality
    assert {"measure": "rows_read", "value": summary["data"]["rows_read"]} in quality


def test_runs_are_named_and_long_stages_leave_progress_at_100(run):
    """What the Prefect UI lists: names with season and model, progress bars finished."""
    from prefect.client.schemas.filters import FlowRunFilterParentFlowRunId

    summary, _ = run
    parent_id = summary["prefect"]["flow_run_id"]

    async def read():
        async with get_client() as client:
            parent = await client.read_flow_run(parent_id)
            children = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
                )
            )
            ids = [parent_id, *(c.id for c in children)]
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
            )
            artifacts = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
            )
            return parent, tasks, children, artifacts

    parent, tasks, children, artifacts = asyncio.run(read())
    assert parent.name.startswith("seasonal-2024-"), parent.name  # the latest season
    names = {t.name for t in tasks}
    assert {
        "ingest-sensor-data",
        "fit-baselines-on-2021-2022",
        "cross-validate-season-2023",  # the local runner: one task run per fold
        "cross-validate-season-2024",
        "backtest-50pct-season-2024",
        "cross-validate-by-season",
        "log-random_forest-to-mlflow",
        "features-at-forecast-points",
        "backtest-forecast-points",
        "fit-champion-on-every-season",
        "register-" + summary["champion"]["model"] + "-as-yieldflow-yield",
    } <= names, names
    assert sorted(c.name for c in children) == ["season-wise-evaluation", "train-mlp-seed-42"]
    progress = {a.key: a for a in artifacts if a.type == "progress"}
    assert set(progress) == {
        "ingestion-progress",
        "training-progress",
        "patience-study-progress",
        "cross-validation-progress",
    }
    assert all(float(a.data) == 100.0 for a in progress.values()), progress


def test_run_folder_has_the_reports(run):
    summary, _ = run
    from pathlib import Path

    folder = Path(summary["outputs"]["run_folder"])
    assert {
        "quarantine.csv",
        "ingestion_summary.json",
        "features.parquet",
        "report.md",
        "loss_curve.png",
        "summary.json",
    } <= {p.name for p in folder.iterdir()}


def test_cross_validation_is_summarised_and_decides_the_verdict(run):
    summary, _ = run
    evaluation = summary["evaluation"]
    assert evaluation["folds"] == [2023, 2024]
    assert evaluation["training_seasons_per_fold"] == {
        "2023": [2021, 2022],
        "2024": [2021, 2022, 2023],
    }
    assert evaluation["mlp_seeds"] == [42, 43]
    assert set(evaluation["models"]) == CV_MODELS
    assert evaluation["models"]["mlp"]["seed_rmse_std"] is not None
    assert evaluation["models"]["crop_mean"]["skill_vs_crop_mean"] == 0
    assert set(evaluation["per_crop"]["mlp"]) == set(evaluation["per_crop"]["crop_mean"])
    # The sentence carries the interval of the comparison it names, and two folds are thin.
    named = evaluation["comparisons"][evaluation["versus"]]
    low, high = named["interval_90"]
    assert f"90% interval {100 * low:+.1f} to {100 * high:+.1f}" in summary["verdict"]
    assert "The evidence is thin (2 folds)" in summary["verdict"]
    assert set(evaluation["comparisons"]) == CV_MODELS - {"mlp"}


def test_champion_has_seen_every_harvested_season_and_its_coverage_is_measured(run):
    summary, uri = run
    champion = summary["champion"]
    assert champion["version"] == 1 and champion["alias_moved"]
    assert champion["training_seasons"] == [2021, 2022, 2023, 2024]  # the newest included
    client = MlflowClient(uri)
    version = client.get_model_version_by_alias("yieldflow-yield", "champion")
    assert int(version.version) == 1
    assert version.tags["yieldflow.model"] == champion["model"]
    assert version.tags["yieldflow.training_seasons"] == "2021,2022,2023,2024"
    backtest = summary["backtest"]
    assert backtest["seasons"] == [2024] and backtest["harvests"] == 5
    assert backtest["interval_coverage"] == backtest["covered"] / 5
    assert [p["point"] for p in backtest["points"]] == [0.5, 0.75, 1.0]
    report = (Path(summary["outputs"]["run_folder"]) / "report.md").read_text()
    assert f"80% intervals covered {backtest['covered']} of 5 held-out harvests" in report


def test_evaluation_run_has_nested_runs_per_model_and_fold(run):
    _, uri = run
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("flow-test")
    runs = client.search_runs([experiment.experiment_id], "tags.`yieldflow.fold` = '2024'")
    assert {r.data.tags["yieldflow.model"] for r in runs} == CV_MODELS
    for fold_run in runs:
        assert {"cv_rmse", "cv_mae", "cv_r2", "cv_nrmse", "cv_mape"} <= set(fold_run.data.metrics)
    evaluation_run = client.get_run(runs[0].data.tags["mlflow.parentRunId"])
    assert evaluation_run.info.run_name == "cross-validation"
    assert "seed_spread.png" in {a.path for a in client.list_artifacts(evaluation_run.info.run_id)}


def test_forecast_uses_the_champion_for_the_unharvested_season(run, forecastable_dataset):
    summary, uri = run
    from yieldflow.flows.forecast import forecast

    config = ForecastConfig(
        data=str(forecastable_dataset),
        tracking=TrackingConfig(
            experiment="flow-test", output_dir=summary["outputs"]["run_folder"]
        ),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        result = forecast(config)
    assert result["season"] == 2025 and result["farms"] == 5
    assert result["model_version"] == summary["champion"]["version"]
    assert result["training_seasons"] == [2021, 2022, 2023, 2024]
    assert result["farms_refused"] == 0
    days = sorted(row["as_of"] for row in result["forecast"])
    assert result["as_of"] == f"{days[0]} to {days[-1]}"  # each farm's latest reading
    for row in result["forecast"]:
        assert row["status"] == "forecast" and row["forecast_point"] == 1.0
        assert (
            0 < row["interval_low_t_ha"] <= row["predicted_yield_t_ha"] <= row["interval_high_t_ha"]
        )
        assert row["sensor_coverage"] > 0.8
    with open(result["csv"]) as handle:
        assert handle.readline().startswith("farm_id,season,crop,as_of,window_elapsed")
    client = MlflowClient(uri)
    forecast_run = client.get_run(result["mlflow_run_id"])
    assert forecast_run.data.tags["yieldflow.forecast_season"] == "2025"
    assert {a.path for a in client.list_artifacts(forecast_run.info.run_id)} == {
        "forecast-2025.csv"
    }


def test_data_check_flow_reports_the_accounting(prefect_server, small_dataset, tmp_path):
    from yieldflow.flows.data_check import data_check

    result = data_check(
        DataConfig(data=str(small_dataset)), TrackingConfig(output_dir=str(tmp_path))
    )
    assert result["rows_read"] == (
        result["rows_accepted"] + result["rows_quarantined"] + result["duplicate_rows_dropped"]
    )
    assert result["harvests_usable"] == 20 and result["harvests_excluded"] == []
    assert Path(result["quarantine_report"]).exists()


def register_candidate(summary, uri, model: str, schema_points: list[float]):
    """Register a champion of kind ``model`` through the real task, with this run's
    cross-validated NRMSE as the gate's evidence."""
    import pandas as pd

    from yieldflow.config import PipelineConfig
    from yieldflow.ml.backtest import choose_at_point
    from yieldflow.ml.forecaster import fit_forecaster
    from yieldflow.ml.intervals import calibrate
    from yieldflow.tasks.champion import INPUT_COLUMNS, register_champion
    from yieldflow.tracking.champion import forecaster_schema
    from yieldflow.tracking.runs import TrackingContext

    client = MlflowClient(uri)
    table = pd.read_parquet(Path(summary["outputs"]["run_folder"]) / "features.parquet")
    config = PipelineConfig()
    interval = calibrate([-0.1, 0.0, 0.1])
    forecaster = fit_forecaster(
        {1.0: table}, {1.0: (model, interval, "test")}, config.training, config.baselines, 0
    )
    predictions = table.assign(
        model=model, seed=-1, y_true=table["yield_t_ha"], y_pred=table["yield_t_ha"]
    )
    results = {1.0: choose_at_point(1.0, predictions, model, 0, 1)}
    cv_nrmse = {m: v["nrmse_mean"] for m, v in summary["evaluation"]["models"].items()}
    experiment = client.get_experiment_by_name("flow-test")
    parent = client.create_run(experiment.experiment_id, run_name="candidate").info.run_id
    context = TrackingContext(uri, "flow-test", experiment.experiment_id, parent, {})

    @flow
    def register_candidate_flow():
        return register_champion(
            context,
            "yieldflow-yield",
            forecaster,
            results,
            cv_nrmse,
            forecaster_schema(INPUT_COLUMNS, schema_points, "log"),
            0.02,
            table.head(5),
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        return register_candidate_flow()


def test_a_worse_model_does_not_take_the_champion_alias(run):
    """A candidate whose cross-validated NRMSE is worse than the champion's model's on the
    same folds (beyond the 2% tolerance): the version exists, the alias stays."""
    summary, uri = run
    client = MlflowClient(uri)
    before = client.get_model_version_by_alias("yieldflow-yield", "champion")
    models = summary["evaluation"]["models"]
    champion_nrmse = models[summary["champion"]["model"]]["nrmse_mean"]
    assert models["mean_baseline"]["nrmse_mean"] > champion_nrmse * 1.02
    outcome = register_candidate(summary, uri, "mean_baseline", [0.5, 0.75, 1.0])
    assert not outcome["alias_moved"] and "worse" in outcome["note"]
    after = client.get_model_version_by_alias("yieldflow-yield", "champion")
    assert after.version == before.version
    assert int(outcome["version"]) > int(before.version)


def test_a_schema_change_is_reported_not_promoted(run):
    summary, uri = run
    client = MlflowClient(uri)
    before = client.get_model_version_by_alias("yieldflow-yield", "champion")
    outcome = register_candidate(summary, uri, summary["champion"]["model"], [1.0])
    assert not outcome["alias_moved"] and outcome["schema_changed"]
    assert "takes other inputs" in outcome["note"]
    assert (
        client.get_model_version_by_alias("yieldflow-yield", "champion").version == before.version
    )
