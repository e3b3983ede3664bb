"""Prefect tasks: season features and the temporal split."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from yieldflow.config import DataConfig, SplitConfig
from yieldflow.features import SeasonFeatures, build_season_features
from yieldflow.ingest import IngestionResult
from yieldflow.split import SeasonSplit, temporal_split


@task(name="build-season-features", cache_policy=NO_CACHE)
def build_features(ingested: IngestionResult, config: DataConfig) -> SeasonFeatures:
    """One row per usable harvest (see yieldflow.features for the definitions)."""
    logger = get_run_logger()
    features = build_season_features(
        ingested.readings, ingested.harvests, ingested.farms, config.min_coverage
    )
    logger.info(
        "Built features for %d harvests (%d left out for thin sensor coverage)",
        len(features.table),
        len(features.excluded),
    )
    for row in features.excluded.itertuples():
        logger.warning("Left out %s %s: %s", row.farm_id, row.season, row.reason)
    return features


@task(name="split-by-season", cache_policy=NO_CACHE)
def split_seasons(features: SeasonFeatures, config: SplitConfig) -> SeasonSplit:
    split = temporal_split(features.table["season"], config)
    get_run_logger().info(
        "Temporal split: train %s, validation %s, test %s", split.train, split.val, split.test
    )
    return split
