"""The temporal split by season, and the train-fitted encoding into model matrices.

Nothing from a later season reaches what is fitted on training rows: the season split is
by calendar order, and the categories and imputation values are learnt from the training
seasons only (the models fit their own scaling on the training matrix).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from yieldflow.config import SplitConfig
from yieldflow.features.seasons import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET


class InsufficientSeasonsError(ValueError):
    """The data cannot support the temporal split (message is one line for the user)."""


@dataclass(frozen=True)
class SeasonSplit:
    train: list[int]
    val: list[int]
    test: list[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"train": self.train, "val": self.val, "test": self.test}


def temporal_split(seasons: list[int] | pd.Series, config: SplitConfig) -> SeasonSplit:
    """Latest seasons → test, the ones before → validation, all earlier → train."""
    ordered = sorted({int(s) for s in seasons})
    needed = config.min_train_seasons + config.val_seasons + config.test_seasons
    if len(ordered) < needed:
        have = ", ".join(map(str, ordered)) or "none"
        raise InsufficientSeasonsError(
            f"the temporal split needs at least {needed} seasons with usable harvests "
            f"({config.min_train_seasons} train + {config.val_seasons} validation + "
            f"{config.test_seasons} test), but the data has {len(ordered)}: {have}"
        )
    test = ordered[-config.test_seasons :]
    val = ordered[-(config.test_seasons + config.val_seasons) : -config.test_seasons]
    train = ordered[: -(config.test_seasons + config.val_seasons)]
    return SeasonSplit(train=train, val=val, test=test)


@dataclass
class FeatureEncoder:
    """One-hot categories and median imputation, learnt from training rows only."""

    categories: dict[str, list[str]] = field(default_factory=dict)
    medians: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: pd.DataFrame) -> FeatureEncoder:
        categories = {c: sorted(train[c].astype(str).unique()) for c in CATEGORICAL_FEATURES}
        medians = {c: float(train[c].median()) for c in NUMERIC_FEATURES}
        # A column never measured in training (no sensor of that kind) imputes to 0.
        medians = {c: (0.0 if np.isnan(v) else v) for c, v in medians.items()}
        return cls(categories=categories, medians=medians)

    def to_json(self) -> str:
        """Saved beside each logged model: forecasts must encode new seasons the same way."""
        return json.dumps({"categories": self.categories, "medians": self.medians}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> FeatureEncoder:
        payload = json.loads(text)
        return cls(categories=payload["categories"], medians=payload["medians"])

    @property
    def feature_names(self) -> list[str]:
        one_hot = [f"{c}={v}" for c in CATEGORICAL_FEATURES for v in self.categories[c]]
        return [*NUMERIC_FEATURES, *one_hot]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        numeric = frame[list(NUMERIC_FEATURES)].astype(float).fillna(self.medians)
        parts = [numeric.to_numpy()]
        for column in CATEGORICAL_FEATURES:
            values = frame[column].astype(str).to_numpy()[:, None]
            parts.append((values == np.array(self.categories[column])[None, :]).astype(float))
        return np.hstack(parts)

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The encoded matrix with column names (the model signature's input)."""
        return pd.DataFrame(self.transform(frame), columns=self.feature_names, index=frame.index)


@dataclass
class ModelData:
    split: SeasonSplit
    encoder: FeatureEncoder
    frames: dict[str, pd.DataFrame]  # "train"/"val"/"test" rows of the feature table
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names

    @property
    def crops(self) -> dict[str, np.ndarray]:
        """The crop of every row, per part: for the scale-free metrics."""
        return {name: frame["crop"].astype(str).to_numpy() for name, frame in self.frames.items()}


def prepare_model_data(table: pd.DataFrame, split: SeasonSplit) -> ModelData:
    """Cut the feature table by season and encode each part with the train-fitted encoder."""
    parts = {
        name: table[table["season"].isin(seasons)].reset_index(drop=True)
        for name, seasons in split.as_dict().items()
    }
    encoder = FeatureEncoder.fit(parts["train"])
    return ModelData(
        split=split,
        encoder=encoder,
        frames=parts,
        x={name: encoder.transform(part) for name, part in parts.items()},
        y={name: part[TARGET].to_numpy(dtype=float) for name, part in parts.items()},
    )
