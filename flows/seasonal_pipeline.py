"""The seasonal pipeline: sensors → features → split → MLP and baselines → MLflow → report.

This flow only wires tasks; every stage's logic lives in yieldflow/ and is tested there.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from yieldflow.config import PipelineConfig
from yieldflow.features.split import prepare_model_data
from yieldflow.flows.farm_batch_ingestion import ingest_in_farm_batches
from yieldflow.flows.run_start import start_run
from yieldflow.flows.season_wise_evaluation import evaluate_by_season
from yieldflow.flows.task_runners import dask_address
from yieldflow.flows.train_model import SplitSeasons, TrackingTarget
from yieldflow.flows.training_dispatch import share_features, train_mlp_flow
from yieldflow.ml.backtest import health
from yieldflow.ml.compare import ModelScores, score_models, verdict_sentence
from yieldflow.ml.patience_study import patience_study_from_dict
from yieldflow.reporting.figures import loss_curve_png, paired_difference_png, seed_spread_png
from yieldflow.reporting.report import ReportInputs, mlp_first
from yieldflow.reporting.summary import build_summary, dataset_fingerprint
from yieldflow.tasks.alerts import publish_alerts
from yieldflow.tasks.backtest import backtest_points, features_at_points, fit_champion
from yieldflow.tasks.baselines import fit_and_predict_baselines
from yieldflow.tasks.champion import INPUT_COLUMNS, register_champion
from yieldflow.tasks.evaluation import log_cross_validation
from yieldflow.tasks.features import build_features, split_seasons
from yieldflow.tasks.ingestion import dataset_fingerprint_of, ingest, publish_ingestion
from yieldflow.tasks.reporting import publish_report
from yieldflow.tasks.run_names import name_seasonal_run
from yieldflow.tasks.tracking import finish_tracking, log_baseline_run, start_tracking
from yieldflow.tracking.champion import forecaster_schema
from yieldflow.tracking.runs import (
    TrackingGuard,
    end_pipeline_run,
    flow_source,
    redact_uri,
    resolve_tracking_uri,
    runs_url,
)

MLP_SUMMARY_KEYS = ("best_epoch", "stopped_epoch", "stop_reason", "patience", "target", "device")


def _run_name() -> str:
    return f"seasonal-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(name="seasonal-yield-pipeline", flow_run_name=_run_name, log_prints=True)
def seasonal_pipeline(
    config: PipelineConfig = PipelineConfig(),  # noqa: B008 (pydantic default = UI form default)
) -> dict[str, Any]:
    """Retrain and compare the yield models on every harvest so far; returns the summary."""
    logger = get_run_logger()
    run = start_run(config.tracking.output_dir, config.data.data)
    run_id, workspace, data_uri = run.run_id, run.workspace, run.data_uri

    if dask_address(config.orchestration.task_runner) is None:
        files_fingerprint = dataset_fingerprint_of(data_uri)  # cache token: files, versions
        ingested = ingest(data_uri, files_fingerprint)
        publish_ingestion(ingested, workspace)
        features = build_features(ingested, config.data, files_fingerprint)
    else:  # on a Dask cluster: one task per batch of farms, merged (same result)
        ingested, features = ingest_in_farm_batches(data_uri, config, run_id, workspace)
        publish_ingestion(ingested, workspace)
    split = split_seasons(features, config.split)
    name_seasonal_run(split.train + split.val + split.test)  # UI name: the latest season
    data = prepare_model_data(features.table, split)
    fingerprint = dataset_fingerprint(ingested.readings, ingested.harvests)
    features_path = share_features(features.table, config, run_id, workspace)

    tracking_uri = resolve_tracking_uri()
    # MLflow failing for good (retries spent) skips the later MLflow steps, not the run:
    # everything is still trained and written locally, then the run fails at the end.
    tracking = TrackingGuard(tracking_uri)
    context = tracking.call(
        start_tracking,
        tracking_uri,
        config.tracking.experiment,
        run_id,
        fingerprint,
        split.as_dict(),
        data_uri,
        flow_source(__file__),
    )
    try:
        mlp = train_mlp_flow(
            features_path,
            SplitSeasons(**split.as_dict()),
            config,
            TrackingTarget(**dataclasses.asdict(context)) if context else None,
            run_id,
        )
        tracking.record(mlp.get("tracking_error"))
        fitted, predictions = fit_and_predict_baselines(data, config.baselines, config.seed)
        scores = mlp_first(
            {
                "mlp": ModelScores("mlp", val=mlp["val"], test=mlp["test"]),
                **score_models(predictions, data.y, data.crops),
            }
        )
        run_ids = {"mlp": mlp["mlflow_run_id"]}
        for baseline in fitted:
            run_ids[baseline.name] = tracking.call(
                log_baseline_run,
                context,
                baseline,
                scores[baseline.name],
                data,
                config.seed,
                features_path,
            )
        cv, backtest, champion = None, None, None
        if config.evaluation.cross_validate:
            tables = features_at_points(
                features.table,
                ingested.readings,
                ingested.harvests,
                ingested.farms,
                config.evaluation.forecast_points,
            )
            evaluation = evaluate_by_season(tables, config)
            cv = evaluation.cv
        spread = seed_spread_png(cv.scores) if cv else b""
        if cv:
            tracking.call(log_cross_validation, context, cv, spread)
            backtest = backtest_points(evaluation.predictions, cv.verdict.recommended, config)
            if config.champion.register_champion:
                forecaster = fit_champion(tables, backtest, config)
                champion = tracking.call(
                    register_champion,
                    context,
                    config.champion.model_name,
                    forecaster,
                    backtest,
                    cv.summary["nrmse_mean"].to_dict(),
                    forecaster_schema(INPUT_COLUMNS, list(backtest), config.training.target),
                    config.champion.tolerance,
                    features.table.head(5),
                )
        elif config.champion.register_champion:
            champion = {
                "alias_moved": False,
                "note": "no champion registered: its intervals are calibrated on the "
                "season-wise folds, and this run has none (cross-validation off or too few "
                "seasons)",
            }
        sentence = verdict_sentence(scores, cv.verdict if cv else None)
        difference = (
            paired_difference_png(
                {
                    name: c.fold_nrmse
                    for name, c in cv.verdict.comparisons.items()
                    if cv.summary.loc[name, "skill_vs_crop_mean"] >= 0
                },
                {f.val: len(f.train) for f in cv.folds},
            )
            if cv
            else b""
        )
        data_summary = {
            **dataclasses.asdict(ingested.accounting),
            "harvests_used": len(features.table),
            "harvests_excluded": len(features.excluded),
            "seasons": split.as_dict(),
            "dataset_fingerprint": fingerprint,
        }
        mlflow_url = runs_url(context) if context else None
        curve = loss_curve_png(
            mlp["train_loss"], mlp["val_loss"], mlp["best_epoch"], mlp["stopped_epoch"]
        )
        report = publish_report(
            ReportInputs(
                scores=scores,
                verdict=sentence,
                patience=patience_study_from_dict(mlp["patience_study"]),
                mlp_info=mlp,
                split=split.as_dict(),
                data=data_summary,
                excluded=features.excluded.to_dict("records"),
                top_quarantine_reasons=ingested.summary().get("top_quarantine_reasons", {}),
                mlflow_url=mlflow_url,
                cv=cv,
                backtest=backtest,
                champion=champion,
                tracking_failure=tracking.failure,
            ),
            {
                "loss_curve.png": curve,
                "seed_spread.png": spread,
                "paired_difference.png": difference,
            },
            workspace,
        )
        summary = build_summary(
            data=data_summary,
            scores=scores,
            run_ids=run_ids,
            mlp_extra={k: mlp[k] for k in MLP_SUMMARY_KEYS},
            tracking_uri=redact_uri(tracking_uri),
            experiment=config.tracking.experiment,
            flow_run_id=run_id,
            verdict=sentence,
            outputs={
                "run_folder": str(workspace.root),
                "report": str(workspace.path("report.md")),
                "quarantine_report": str(workspace.path("quarantine.csv")),
                "mlflow_runs_url": mlflow_url,
            },
            evaluation=cv.as_dict() if cv else None,
            backtest=(
                {**health(backtest[1.0]), "points": [r.as_dict() for r in backtest.values()]}
                if backtest
                else None
            ),
            champion=champion,
        )
        workspace.write_json("summary.json", summary)
        publish_alerts(summary, config)  # champion moved, forecast check failed (issue 23)
        tracking.call(finish_tracking, context, report, curve, summary)
    except BaseException:
        if context and not tracking.failure:
            with contextlib.suppress(Exception):  # best effort: the run's error matters more
                end_pipeline_run(context, status="FAILED")
        raise
    tracking.raise_if_failed(workspace.root)
    logger.info(sentence)
    return summary
