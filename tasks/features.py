"""Prefect tasks: season features and the temporal split."""

from __future__ import annotations

import time
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import DataConfig, SplitConfig
from yieldflow.features.seasons import SeasonFeatures, build_season_features
from yieldflow.features.split import SeasonSplit, temporal_split
from yieldflow.ingest.dataset import IngestionResult
from yieldflow.io.fingerprint import code_fingerprint
from yieldflow.tasks.ingestion import CACHE_EXPIRATION, INGESTION_CODE

FEATURES_CODE = ("yieldflow.features.agronomy", "yieldflow.features.seasons")


def _features_key(context: Any, parameters: dict[str, Any]) -> str:
    config: DataConfig = parameters["config"]
    code = code_fingerprint((*INGESTION_CODE, *FEATURES_CODE))
    return f"features-{parameters['fingerprint']}-{config.min_coverage}-{code}"


@task(
    name="build-season-features",
    task_run_name="build-season-features",
    cache_key_fn=_features_key,
    cache_expiration=CACHE_EXPIRATION,
    persist_result=True,
)
def build_features(
    ingested: IngestionResult, config: DataConfig, fingerprint: str
) -> SeasonFeatures:
    """One row per usable harvest (see yieldflow.features.seasons for the definitions)."""
    logger = get_run_logger()
    started = time.perf_counter()
    features = build_season_features(
        ingested.readings, ingested.harvests, ingested.farms, config.min_coverage
    )
    logger.info(
        "Built features for %d harvests in %.1f s (%d left out for thin sensor coverage)",
        len(features.table),
        time.perf_counter() - started,
        len(features.excluded),
    )
    for row in features.excluded.itertuples():
        logger.warning("Left out %s %s: %s", row.farm_id, row.season, row.reason)
    return features


@task(name="split-by-season", task_run_name="split-by-season", cache_policy=NO_CACHE)
def split_seasons(features: SeasonFeatures, config: SplitConfig) -> SeasonSplit:
    split = temporal_split(features.table["season"], config)
    get_run_logger().info(
        "Temporal split: train %s, validation %s, test %s", split.train, split.val, split.test
    )
    return split
