"""The clean bases of the bad-input corpus, and what ingesting them gives."""

from __future__ import annotations

from pathlib import Path

from tests.support.bad_inputs.dataset import NOW, base_dataset
from yieldflow.config import DataConfig
from yieldflow.features.seasons import SeasonFeatures, build_season_features
from yieldflow.ingest.dataset import IngestionResult, ingest_dataset
from yieldflow.io.local import LocalSource

MIN_COVERAGE = DataConfig().min_coverage


def features_of(result: IngestionResult) -> SeasonFeatures:
    return build_season_features(result.readings, result.harvests, result.farms, MIN_COVERAGE)


class Corpus:
    """The clean bases, and what ingesting them gives (each made once per module)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self._clean: dict[int, tuple[IngestionResult, SeasonFeatures]] = {}

    def base(self, seasons: int) -> Path:
        return base_dataset(seasons, self.where)

    def clean(self, seasons: int) -> tuple[IngestionResult, SeasonFeatures]:
        if seasons not in self._clean:
            result = ingest_dataset(LocalSource(self.base(seasons)), now=NOW)
            assert result.quarantine.empty and not result.notes  # the damage is all there is
            self._clean[seasons] = (result, features_of(result))
        return self._clean[seasons]
