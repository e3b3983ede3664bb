"""The one typed configuration of a pipeline run.

Every option is declared here once, with its default, bounds and description. The same
models are the Prefect flow parameters (so the UI's run form shows and validates them) and
the source of the command-line options (see yieldflow.cli), so nothing is re-declared.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SEED = 42


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    # "" rather than None: the Prefect UI then shows a plain text box, not a str/None toggle.
    data: str = Field(
        default="",
        title="Dataset",
        description=(
            "Dataset root: a local folder or an s3://bucket/prefix URI following the data "
            "contract. Empty: the built-in demo dataset (12 farms, 4 seasons) in ad-hoc "
            "runs; a deployment run stops instead (set the yieldflow_dataset variable)."
        ),
    )
    min_coverage: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        title="Minimum sensor coverage",
        description=(
            "Fraction of growing-window hours with an air-temperature reading that a harvest "
            "needs to be used; harvests below it are reported and left out."
        ),
    )


class SplitConfig(_Section):
    test_seasons: int = Field(
        default=1,
        ge=1,
        le=10,
        title="Test seasons",
        description="How many of the latest seasons are held out as the test set.",
    )
    val_seasons: int = Field(
        default=1,
        ge=1,
        le=10,
        title="Validation seasons",
        description="How many seasons before the test seasons are used for validation "
        "(early stopping and model choice).",
    )
    min_train_seasons: int = Field(
        default=1,
        ge=1,
        le=20,
        title="Minimum training seasons",
        description="Fewer training seasons than this is an error, not a silent tiny model.",
    )


class TrainingConfig(_Section):
    hidden_units: list[int] = Field(
        default=[32, 16],
        min_length=1,
        max_length=2,
        title="Hidden layer sizes",
        description="Units in each hidden ReLU layer of the MLP (one or two layers).",
    )
    learning_rate: float = Field(
        default=1e-2,
        gt=0.0,
        le=10.0,
        title="Learning rate",
        description="Adam step size.",
    )
    weight_decay: float = Field(
        default=1e-2,
        ge=0.0,
        le=1.0,
        title="Weight decay",
        description="Adam L2 penalty; small data overfits without it.",
    )
    target: Literal["log", "t_ha"] = Field(
        default="log",
        title="MLP target",
        description="What the MLP learns: log yield (errors relative to each crop's scale, "
        "so potato's tenfold yields do not drown soybean's) or yield in t/ha. Log was "
        "chosen on the season-wise folds (README, 'Choices and why').",
    )
    max_epochs: int = Field(
        default=500,
        ge=1,
        le=100_000,
        title="Maximum epochs",
        description="Upper bound on training epochs; early stopping usually ends sooner.",
    )
    patience: int = Field(
        default=40,
        ge=1,
        le=10_000,
        title="Early-stopping patience",
        description="Epochs without a validation-loss improvement before training stops. "
        "The report replays the validation curve to show what other values would have done.",
    )
    min_delta: float = Field(
        default=0.0,
        ge=0.0,
        title="Early-stopping min_delta",
        description="An epoch improves only if validation loss drops by more than this.",
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        le=1_000_000,
        title="Batch size",
        description="Mini-batch size for training (the whole set if larger than it).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        title="Device",
        description="auto: CUDA when available, else CPU. With a few dozen harvests the "
        "CPU is faster: starting CUDA costs seconds.",
    )
    cuda_graphs: bool = Field(
        default=True,
        title="CUDA graphs",
        description="On a GPU, replay each training step as one captured CUDA graph "
        "(the same step, several times faster for this small network). Turn off to "
        "train step by step, e.g. to debug on the device.",
    )
    cpu_threads: int = Field(
        default=0,
        ge=0,
        le=1024,
        title="CPU threads",
        description="Threads torch uses when training on CPU. 0 = automatic: one thread "
        "for small batches (more only wait on each other), torch's default for large ones.",
    )

    @field_validator("hidden_units")
    @classmethod
    def _positive_units(cls, units: list[int]) -> list[int]:
        if any(u < 1 or u > 4096 for u in units):
            raise ValueError("hidden layer sizes must be between 1 and 4096")
        return units


class BaselineConfig(_Section):
    rf_n_estimators: int = Field(
        default=300,
        ge=10,
        le=5000,
        title="Random-forest trees",
        description="Trees in the RandomForestRegressor baseline.",
    )
    rf_min_samples_leaf: int = Field(
        default=2,
        ge=1,
        le=100,
        title="Random-forest min samples per leaf",
        description="Larger leaves smooth the forest on small data.",
    )
    ridge_alpha: float = Field(
        default=1.0,
        ge=0.0,
        le=1e6,
        title="Linear model alpha",
        description="L2 strength of the Ridge linear baseline.",
    )


class EvaluationConfig(_Section):
    cross_validate: bool = Field(
        default=True,
        title="Season-wise cross-validation",
        description="Rolling-origin evaluation: train on the seasons before S, score on S, "
        "for every S with two or more seasons before it; the verdict uses these folds.",
    )
    mlp_seeds: int = Field(
        default=5,
        ge=1,
        le=50,
        title="MLP seeds per fold",
        description="The MLP is trained with this many seeds in every fold, so its "
        "seed-to-seed spread is measured.",
    )
    forecast_points: list[float] = Field(
        default=[0.5, 0.75, 1.0],
        min_length=1,
        max_length=10,
        title="Forecast points",
        description="Points of the growing window (fractions; 1 = harvest) at which the "
        "pipeline backtests forecasts and fits a champion on features cut there. A "
        "forecast on day D uses the latest point D has reached.",
    )
    backtest_seasons: int = Field(
        default=5,
        ge=1,
        le=50,
        title="Backtest seasons",
        description="How many of the latest seasons are forecast from the seasons before "
        "them to measure interval coverage and forecast error.",
    )

    calibration_seasons: int = Field(
        default=5,
        ge=1,
        le=50,
        title="Calibration seasons",
        description="Forecast intervals are calibrated on the out-of-fold residuals of at "
        "most this many latest folds: models trained on only two or three seasons err more, "
        "and their residuals would make a champion trained on many seasons look less sure "
        "than it is (README, 'Choices and why').",
    )

    @field_validator("forecast_points")
    @classmethod
    def _points_in_the_window(cls, points: list[float]) -> list[float]:
        if any(not 0.1 <= p <= 1.0 for p in points):
            raise ValueError("forecast points are fractions of the window between 0.1 and 1")
        if 1.0 not in points:
            raise ValueError("forecast points must include 1 (harvest)")
        return sorted(set(points))


class ChampionConfig(_Section):
    register_champion: bool = Field(
        default=True,
        title="Register the champion",
        description="Register the recommended model in the MLflow Model Registry and move "
        "the champion alias to it when it is at least as good as the current champion.",
    )
    model_name: str = Field(
        default="yieldflow-yield",
        min_length=1,
        max_length=200,
        title="Registered model name",
        description="Name of the registered model whose @champion alias forecasts use.",
    )
    tolerance: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        title="Champion tolerance",
        description="The new model takes the champion alias unless its cross-validated "
        "NRMSE is worse than the champion's model's on the same folds by more than this "
        "fraction.",
    )


class TrackingConfig(_Section):
    experiment: str = Field(
        default="yieldflow",
        min_length=1,
        max_length=200,
        title="MLflow experiment",
        description="MLflow experiment the runs are logged to.",
    )
    output_dir: str = Field(
        default="yieldflow-runs",
        min_length=1,
        title="Output folder",
        description="Local folder for run-scoped outputs (features, quarantine report, "
        "report, summary); each run writes to its own subfolder.",
    )


class OrchestrationConfig(_Section):
    train_on: Literal["auto", "in-process", "deployment"] = Field(
        default="auto",
        title="Where the MLP trains",
        description="auto: on the training deployment (GPU pool) when this run itself comes "
        "from a deployment, in this process for ad-hoc runs; or force one of the two.",
    )
    training_deployment: str = Field(
        default="train-model/train-model",
        min_length=3,
        title="Training deployment",
        description="flow-name/deployment-name started with run_deployment to train the MLP.",
    )
    training_timeout_s: int = Field(
        default=3600,
        ge=10,
        le=86_400,
        title="Training timeout (s)",
        description="How long the seasonal run waits for the training deployment to finish.",
    )
    task_runner: str = Field(
        default="local",
        title="Task runner",
        description="Where the independent task runs (every model on every season-wise "
        "fold) execute: 'local' (this process, one at a time), 'dask://host:port' (a Dask "
        "scheduler; workers need the project installed and PREFECT_API_URL), or 'dask' "
        "(the address in DASK_SCHEDULER_ADDRESS).",
    )
    ingest_batches: int = Field(
        default=8,
        ge=1,
        le=10_000,
        title="Ingestion batches on Dask",
        description="With a Dask task runner, ingestion and season features run as this "
        "many tasks at most, each over a batch of farms (about equal bytes), their results "
        "written as Parquet to the shared storage and merged; the local runner ingests "
        "in one task.",
    )
    shared_storage: str = Field(
        default="",
        title="Shared storage for intermediate data",
        description="Run-scoped location (local folder or s3://bucket/prefix) for the feature "
        "table the training flow reads; empty: the local run folder. Use S3 when training "
        "runs on another machine.",
    )

    @field_validator("task_runner")
    @classmethod
    def _known_runner(cls, value: str) -> str:
        value = value.strip()
        if value in ("local", "dask") or re.fullmatch(r"(dask|tcp)://[^\s/:]+:\d+", value):
            return value
        raise ValueError("task_runner is 'local', 'dask' or 'dask://host:port'")


class AlertsConfig(_Section):
    min_interval_coverage: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        title="Alert below interval coverage",
        description="Notify when fewer than this fraction of the backtest's held-out "
        "harvests fall inside their 80% forecast interval (0: never).",
    )
    max_error_vs_simple: float = Field(
        default=0.10,
        ge=0.0,
        le=10.0,
        title="Alert above error against simple baselines",
        description="Notify when the champion's backtest RMSE is worse than the better "
        "simple mean's by more than this fraction (0.10: more than 10% worse).",
    )


class PipelineConfig(_Section):
    """Everything one run of the seasonal pipeline needs."""

    seed: int = Field(
        default=DEFAULT_SEED,
        ge=0,
        le=2**31 - 1,
        title="Seed",
        description="Seeds random, numpy and torch, and the random forest.",
    )
    data: DataConfig = Field(default_factory=DataConfig, title="Data")
    split: SplitConfig = Field(default_factory=SplitConfig, title="Temporal split")
    training: TrainingConfig = Field(default_factory=TrainingConfig, title="MLP training")
    baselines: BaselineConfig = Field(default_factory=BaselineConfig, title="Baselines")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, title="Cross-validation")
    champion: ChampionConfig = Field(default_factory=ChampionConfig, title="Champion model")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, title="Tracking")
    orchestration: OrchestrationConfig = Field(
        default_factory=OrchestrationConfig, title="Orchestration"
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, title="Alerts")


class ForecastConfig(_Section):
    """Everything one forecast run needs."""

    # The same dataset option as a pipeline run (coverage rules do not apply to forecasts).
    data: str = Field(
        default="",
        title=DataConfig.model_fields["data"].title,
        description=DataConfig.model_fields["data"].description,
    )
    season: int | None = Field(
        default=None,
        ge=1900,
        le=2200,
        title="Season to forecast",
        description="Harvest year to forecast, from planned_seasons.csv; empty: the latest.",
    )
    model_name: str = Field(
        default="yieldflow-yield",
        min_length=1,
        max_length=200,
        title="Registered model",
        description="Registered model whose alias is used for the forecast.",
    )
    as_of: date | None = Field(
        default=None,
        title="As of",
        description="Forecast as of this day (YYYY-MM-DD): only readings up to it are used. "
        "Empty: the day of the latest reading in the data.",
    )
    min_coverage: float = Field(
        default=DataConfig.model_fields["min_coverage"].default,
        ge=0.0,
        le=1.0,
        title="Minimum sensor coverage",
        description="A farm whose window up to the forecast point has fewer hours with an "
        "air-temperature reading than this fraction is refused, with its reason.",
    )
    alias: str = Field(
        default="champion",
        min_length=1,
        max_length=100,
        title="Model alias",
        description="Alias of the registered model version to load.",
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, title="Tracking")
