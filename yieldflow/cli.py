"""The `yieldflow` command line: ad-hoc runs of the same flows the deployments run.

The run options are generated from yieldflow.config, so each option's default, bounds and
help text are the ones the Prefect UI shows; nothing is declared twice.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from yieldflow.config import ForecastConfig, PipelineConfig

ConfigT = TypeVar("ConfigT", bound=BaseModel)

# Prefect's telemetry prints "database is locked" noise from short-lived CLI runs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect's temporary server gives up after 20 s by default; a busy 2-core machine needs more.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _leaf_fields(
    model: type[BaseModel], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaf_fields(annotation, (*path, name))
        else:
            yield (*path, name), field


def _click_type(field: FieldInfo) -> tuple[Any, Callable[[Any], Any]]:
    """A click parameter type and a converter to what pydantic expects."""
    annotation = field.annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return click.Choice([str(v) for v in typing.get_args(annotation)]), lambda v: v
    if origin is list:
        return click.STRING, lambda v: [int(part) for part in str(v).split(",") if part.strip()]
    if origin in (typing.Union, types.UnionType):  # Optional[X]: the option takes an X
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return _click_type(FieldInfo(annotation=inner[0]))
        return click.STRING, lambda v: v
    return {int: click.INT, float: click.FLOAT, bool: click.BOOL}.get(annotation, click.STRING), (
        lambda v: v
    )


def _help(field: FieldInfo) -> str:
    bounds = []
    for item in field.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                bounds.append(f"{symbol} {getattr(item, attr)}")
    default = field.get_default(call_default_factory=True)
    if isinstance(default, list):
        default = ",".join(map(str, default))
    text = field.description or ""
    if bounds:
        text += f" ({', '.join(bounds)})"
    return text + (f"  [default: {default}]" if default not in (None, "") else "")


def config_options(model: type[BaseModel]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add one --option per leaf field of ``model`` (named after the field)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for path, field in reversed(list(_leaf_fields(model))):
            click_type, _ = _click_type(field)
            command = click.option(
                f"--{path[-1].replace('_', '-')}",
                path[-1],
                type=click_type,
                default=None,
                help=_help(field),
            )(command)
        return command

    return decorate


def build_config(model: type[ConfigT], values: dict[str, Any]) -> ConfigT:
    """Nest the flat option values given on the command line into a validated config."""
    nested: dict[str, Any] = {}
    for path, field in _leaf_fields(model):
        value = values.get(path[-1])
        if value is None:
            continue
        _, convert = _click_type(field)
        target = nested
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = convert(value)
    return model.model_validate(nested)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="yieldflow")
def main() -> None:
    """yieldflow: crop-yield models from farm sensor data, compared honestly.

    Runs the same Prefect flows the scheduled deployments run. MLFLOW_TRACKING_URI and
    PREFECT_API_URL are honoured; without them runs are tracked in ./mlflow.db and
    Prefect runs in its ephemeral mode.
    """


@main.command("generate-data")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--farms",
    default=12,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Number of farms.",
)
@click.option(
    "--seasons",
    default=4,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Number of consecutive harvest seasons.",
)
@click.option(
    "--first-season",
    default=2022,
    show_default=True,
    type=click.IntRange(1900, 2200),
    help="Calendar year of the first harvest.",
)
@click.option(
    "--seed",
    default=42,
    show_default=True,
    type=click.IntRange(0, 2**31 - 1),
    help="Same seed, same files.",
)
@click.option(
    "--interval-minutes",
    default=60,
    show_default=True,
    type=click.IntRange(1, 1440),
    help="Minutes between sensor readings.",
)
@click.option(
    "--unharvested-seasons",
    default=0,
    show_default=True,
    type=click.IntRange(0, 50),
    help="Last N seasons get sensor data but no harvest rows (to forecast).",
)
@click.option(
    "--planned-progress",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 1.0),
    help="Stop the unharvested seasons' readings this far into their growing windows "
    "(0.5: the data a mid-season forecast sees).",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the true yields of the unharvested seasons to this CSV (to check "
    "forecasts against; not part of the dataset).",
)
@click.option("--no-faults", is_flag=True, help="Write clean data without logger faults.")
def generate_data(
    out: Path,
    farms: int,
    seasons: int,
    first_season: int,
    seed: int,
    interval_minutes: int,
    unharvested_seasons: int,
    planned_progress: float,
    truth: Path | None,
    no_faults: bool,
) -> None:
    """Write a synthetic dataset that follows the data contract to OUT.

    Hourly readings for every farm from a month before planting to harvest, yields driven
    by growing degree days, water and heat stress, farm and crop effects, and the faults
    real loggers produce (sentinels, gaps, re-exported overlapping files, rows out of order).
    """
    from yieldflow.synthetic import generate_dataset

    info = generate_dataset(
        out,
        farms=farms,
        seasons=seasons,
        first_season=first_season,
        seed=seed,
        interval_minutes=interval_minutes,
        unharvested_seasons=unharvested_seasons,
        faults=not no_faults,
        planned_progress=planned_progress,
    )
    if truth:
        import pandas as pd

        rows = [
            {"farm_id": d.farm_id, "season": d.season, "crop": d.crop, "yield_t_ha": d.yield_t_ha}
            for d in info.season_drivers
            if not d.harvested
        ]
        pd.DataFrame(rows, columns=["farm_id", "season", "crop", "yield_t_ha"]).to_csv(
            truth, index=False
        )
    click.echo(
        f"Wrote {info.n_sensor_rows} sensor rows in {info.n_files} files and "
        f"{info.n_harvests} harvests for {farms} farms to {out}"
    )


@main.command("upload-data")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("destination")
def upload_data(source: Path, destination: str) -> None:
    """Copy a dataset folder to DESTINATION (s3://bucket/prefix or another folder).

    Uses the same S3 settings as ingestion (AWS_ENDPOINT_URL_S3, the boto3 credential
    chain), so what uploads here is what a run can read.
    """
    from yieldflow.io.storage import copy_tree
    from yieldflow.reporting.console import fail

    try:
        count = copy_tree(source, destination)
    except Exception as error:
        fail(_one_line(error))
    click.echo(f"Copied {count} files from {source} to {destination}")


@main.command("run")
@config_options(PipelineConfig)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run summary (stable JSON interface) to this file.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Show the detail: library messages, losses while training, the full traceback "
    "when a run fails.",
)
def run(summary_json: Path | None, verbose: bool, **options: Any) -> None:
    """Run the seasonal pipeline once: ingest, features, MLP and baselines, report.

    With no --data it uses the built-in default dataset (12 farms, 4 seasons, 48 harvests).
    In a terminal, long stages show progress bars; the log lines say what each stage did.
    """
    import yieldflow.flows  # noqa: F401  (first, for its import order: see flows/__init__.py)
    from yieldflow.reporting.console import configure_output, fail, print_summary
    from yieldflow.reporting.progress import terminal_progress

    config = _validated(PipelineConfig, options)
    from yieldflow.flows.seasonal_pipeline import seasonal_pipeline

    console = configure_output(verbose)
    try:
        with terminal_progress(console):
            summary = seasonal_pipeline(config)
    except Exception as error:  # one line for the user; the detail with --verbose
        if verbose:
            raise
        fail(_one_line(error))
    if summary_json:
        summary_json.write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary, summary_json)


@main.command("forecast")
@config_options(ForecastConfig)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also copy the forecast CSV to this file.",
)
@click.option("--verbose", "-v", is_flag=True, help="Show the full traceback when it fails.")
def forecast(out: Path | None, verbose: bool, **options: Any) -> None:
    """Forecast a season that has sensor data but no harvest yet, with the @champion model.

    The growing windows come from the dataset's planned_seasons.csv; the model, its
    encoder and its interval come from the MLflow registry (run `yieldflow run` first).
    """
    import yieldflow.flows  # noqa: F401  (first, for its import order: see flows/__init__.py)
    from yieldflow.reporting.console import fail, print_forecast, quiet_tracebacks

    config = _validated(ForecastConfig, options)
    from yieldflow.flows.forecast import forecast as forecast_flow

    if not verbose:
        quiet_tracebacks()
    try:
        result = forecast_flow(config)
    except Exception as error:
        if verbose:
            raise
        fail(_one_line(error))
    if out:
        shutil.copyfile(result["csv"], out)
    print_forecast(result)


def _validated(model: type[ConfigT], options: dict[str, Any]) -> ConfigT:
    from yieldflow.reporting.console import fail

    try:
        return build_config(model, options)
    except ValidationError as error:
        first = error.errors()[0]
        fail(f"invalid option --{str(first['loc'][-1]).replace('_', '-')}: {first['msg']}")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no message'} (use --verbose for detail)"


if __name__ == "__main__":
    sys.exit(main())
