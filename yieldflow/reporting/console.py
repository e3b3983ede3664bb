"""What `yieldflow run` prints at the end: a result table and where to look next."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from yieldflow.reporting.report import MODEL_TITLES

console = Console()
errors = Console(stderr=True)


class _DropTraceback(logging.Filter):
    """Console only: keep the one-line message, drop the traceback (the Prefect API log
    handler sees the record first, so the UI keeps the detail)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def prefect_console_handler() -> logging.Handler | None:
    """The handler that prints Prefect's logs in this terminal (set up once)."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    return next(
        (h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)), None
    )


def configure_output(verbose: bool) -> Console:
    """What a run prints: one line per stage, no library chatter and tracebacks only with
    --verbose (the Prefect API log handler sees every record first, so the UI keeps the
    detail). Returns the console the progress bars share with the log lines."""
    from yieldflow.reporting.noise import ROUTINE_STATES, quiet_libraries

    handler = prefect_console_handler()
    if verbose:
        for name in ("prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).setLevel(logging.DEBUG)  # e.g. the loss every 10% of epochs
    else:
        quiet_libraries()
        if handler is not None:
            handler.addFilter(_DropTraceback())
            handler.addFilter(ROUTINE_STATES)
    return getattr(handler, "console", None) or errors


def quiet_tracebacks() -> None:
    """Stop Prefect's console handler from printing tracebacks (for commands without -v)."""
    handler = prefect_console_handler()
    if handler is not None:
        handler.addFilter(_DropTraceback())


def prefect_run_url(flow_run_id: str) -> str:
    """Where the run is in the Prefect UI, or why there is no such page."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    ui = PREFECT_UI_URL.value() if PREFECT_API_URL.value() else None
    if not ui:
        return (
            "ran on a temporary server, now stopped (start `prefect server start` and set "
            "PREFECT_API_URL to keep runs)"
        )
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}"


def fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(1)


def print_summary(summary: dict[str, Any], summary_json: Path | None) -> None:
    data = summary["data"]
    seasons = data["seasons"]
    evaluation = summary.get("evaluation")
    console.print(_cv_table(evaluation) if evaluation else _split_table(summary["models"]))
    mlp = summary["models"]["mlp"]
    console.print(
        f"{data['harvests_used']} harvests; train {seasons['train']}, validation "
        f"{seasons['val']}, test {seasons['test']}. MLP on {mlp['device']}: best epoch "
        f"{mlp['best_epoch']}, stopped at {mlp['stopped_epoch']} (patience {mlp['patience']}).",
        highlight=False,
    )
    console.print(
        f"Rows read {data['rows_read']}: {data['rows_accepted']} accepted, "
        f"{data['rows_quarantined']} quarantined, {data['duplicate_rows_dropped']} duplicates "
        f"dropped; {data['readings_nulled']} values nulled.",
        highlight=False,
    )
    console.print(f"[bold]Verdict:[/] {summary['verdict']}", highlight=False)
    backtest = summary.get("backtest")
    if backtest and backtest.get("harvests"):
        console.print(
            f"[bold]Intervals:[/] 80% intervals covered {backtest['covered']} of "
            f"{backtest['harvests']} held-out harvests in the backtest (seasons "
            f"{', '.join(map(str, backtest['seasons']))}).",
            highlight=False,
        )
    if summary.get("champion"):
        console.print(f"[bold]Champion:[/] {summary['champion']['note']}", highlight=False)
    outputs = summary["outputs"]
    console.print("[bold]Where to look next[/]")
    console.print(f"Report: {outputs['report']}", highlight=False)
    console.print(f"Prefect: {prefect_run_url(summary['prefect']['flow_run_id'])}", highlight=False)
    console.print(
        f"MLflow: {outputs['mlflow_runs_url']} (tracking {summary['mlflow']['tracking_uri']})",
        highlight=False,
    )
    if summary_json:
        console.print(f"Summary JSON: {summary_json}", highlight=False)


def _split_table(models: dict[str, Any]) -> Table:
    table = Table(title="yieldflow: validation and test metrics (t/ha)")
    for column in ("model", "val RMSE", "test RMSE", "test MAE", "test R²"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, m in models.items():
        table.add_row(
            MODEL_TITLES.get(name, name),
            f"{m['val_rmse']:.3f}",
            f"{m['test_rmse']:.3f}",
            f"{m['test_mae']:.3f}",
            f"{m['test_r2']:.3f}",
        )
    return table


def _cv_table(evaluation: dict[str, Any]) -> Table:
    folds = evaluation["folds"]
    span = f"{folds[0]}-{folds[-1]}" if len(folds) > 1 else str(folds[0])
    table = Table(title=f"yieldflow: season-wise cross-validation, {len(folds)} folds ({span})")
    for column in ("model", "NRMSE", "RMSE t/ha", "MAPE", "skill vs crop mean"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, m in evaluation["models"].items():
        table.add_row(
            MODEL_TITLES.get(name, name),
            f"{m['nrmse_mean']:.1%}",
            f"{m['rmse_mean']:.2f}",
            f"{m['mape_mean']:.1%}",
            f"{m['skill_vs_crop_mean']:+.2f}",
        )
    return table


def print_forecast(result: dict[str, Any]) -> None:
    table = Table(
        title=f"yieldflow: season {result['season']} forecast as of {result['as_of']} "
        f"({result['model']}, trained on {_span(result['training_seasons'])})"
    )
    for column in ("farm", "crop", "point", "model", "predicted t/ha", "80% interval", "coverage"):
        table.add_column(column, justify="left" if column in ("farm", "crop", "model") else "right")
    refused = []
    for row in result["forecast"]:
        if row["status"] != "forecast":
            refused.append(row)
            continue
        table.add_row(
            row["farm_id"],
            row["crop"],
            f"{row['forecast_point']:.0%}",
            row["model"],
            f"{row['predicted_yield_t_ha']:.2f}",
            f"{row['interval_low_t_ha']:.2f} – {row['interval_high_t_ha']:.2f}",
            f"{row['sensor_coverage']:.0%}",
        )
    console.print(table)
    for row in refused:
        console.print(f"[yellow]refused[/] {row['farm_id']}: {row['note']}", highlight=False)
    console.print(
        f"Forecast CSV: {result['csv']} (MLflow run {result['mlflow_run_id']})", highlight=False
    )


def _span(seasons: list[int]) -> str:
    return f"{seasons[0]}-{seasons[-1]}" if len(seasons) > 1 else ", ".join(map(str, seasons))
