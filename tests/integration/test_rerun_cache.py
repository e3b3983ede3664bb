"""A run that dies part-way is re-run without re-reading the data: ingestion and features
come from Prefect's cache (keyed on the files and the code), and the metrics match."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from yieldflow.config import (
    BaselineConfig,
    ChampionConfig,
    DataConfig,
    EvaluationConfig,
    PipelineConfig,
    TrackingConfig,
    TrainingConfig,
)
from yieldflow.flows.seasonal_pipeline import seasonal_pipeline
from yieldflow.ml.mlp import TrainingDivergedError


def task_states(flow_run_id: str) -> dict[str, str]:
    """Every task run's final state name. Prefect 3 sends task run states as events that
    the server records in the background, so the last ones may lag the flow's return."""

    async def read():
        async with get_client() as client:
            for _ in range(40):
                runs = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
                )
                if all(r.state is not None and r.state.is_final() for r in runs):
                    break
                await asyncio.sleep(0.25)
            return {
                r.task_key.split("-")[0] + ":" + r.name: r.state.name if r.state else "none yet"
                for r in runs
            }

    return asyncio.run(read())


def config(data, tmp_path, learning_rate: float) -> PipelineConfig:
    return PipelineConfig(
        data=DataConfig(data=str(data)),
        training=TrainingConfig(max_epochs=40, patience=10, learning_rate=learning_rate),
        baselines=BaselineConfig(rf_n_estimators=10),
        evaluation=EvaluationConfig(cross_validate=False),
        champion=ChampionConfig(register_champion=False),
        tracking=TrackingConfig(experiment="rerun", output_dir=str(tmp_path / "runs")),
    )


def test_a_crashed_run_reuses_cached_ingestion_and_features(prefect_server, tmp_path):
    from yieldflow.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, farms=3, seasons=3, first_season=2022, seed=11)
    with pytest.raises(TrainingDivergedError):  # dies in training, after features
        seasonal_pipeline(config(data, tmp_path, learning_rate=10.0))

    first = seasonal_pipeline(config(data, tmp_path, learning_rate=0.01))
    second = seasonal_pipeline(config(data, tmp_path, learning_rate=0.01))
    for summary in (first, second):
        states = task_states(summary["prefect"]["flow_run_id"])
        cached = {name: state for name, state in states.items() if state == "Cached"}
        assert any("ingest-sensor-data" in name for name in cached), states
        assert any("build-season-features" in name for name in cached), states
    for model in ("mlp", "random_forest", "linear", "mean_baseline"):
        assert first["models"][model]["test_rmse"] == second["models"][model]["test_rmse"]
    assert first["data"] == second["data"]


def test_changed_files_are_not_served_from_the_cache(prefect_server, tmp_path):
    from yieldflow.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, farms=3, seasons=3, first_season=2022, seed=12)
    before = seasonal_pipeline(config(data, tmp_path, learning_rate=0.01))
    harvests = data / "harvests.csv"
    lines = harvests.read_text().splitlines()
    harvests.write_text("\n".join(lines[:-1]) + "\n")  # one harvest fewer
    after = seasonal_pipeline(config(data, tmp_path, learning_rate=0.01))
    states = task_states(after["prefect"]["flow_run_id"])
    assert not any(state == "Cached" for state in states.values()), states
    assert after["data"]["harvests_used"] == before["data"]["harvests_used"] - 1
