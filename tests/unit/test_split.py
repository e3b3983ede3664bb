import numpy as np
import pytest

from tests.support.data import feature_table
from yieldflow.config import SplitConfig
from yieldflow.features.seasons import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from yieldflow.features.split import InsufficientSeasonsError, prepare_model_data, temporal_split


def test_latest_season_is_test_the_one_before_is_validation():
    split = temporal_split([2023, 2020, 2022, 2021, 2021], SplitConfig())
    assert (split.train, split.val, split.test) == ([2020, 2021], [2022], [2023])


def test_split_sizes_are_configurable():
    split = temporal_split(range(2015, 2025), SplitConfig(test_seasons=2, val_seasons=3))
    assert split.test == [2023, 2024] and split.val == [2020, 2021, 2022]
    assert max(split.train) < min(split.val) < min(split.test)


def test_too_few_seasons_is_a_clear_error():
    with pytest.raises(
        InsufficientSeasonsError, match=r"needs at least 3 seasons.*has 2: 2022, 2023"
    ):
        temporal_split([2022, 2023], SplitConfig())


def test_encoder_learns_from_training_seasons_only():
    table = feature_table()
    table.loc[table["season"] == 2020, "gdd_c_days"] = np.nan  # imputed from train median
    data = prepare_model_data(table, temporal_split(table["season"], SplitConfig()))
    train = table[table["season"].isin([2020, 2021])]
    assert data.encoder.medians["gdd_c_days"] == pytest.approx(train["gdd_c_days"].median())
    assert data.encoder.categories["crop"] == ["Maize"]  # "Sorghum" first appears in test
    sorghum_columns = [n for n in data.feature_names if "Sorghum" in n]
    assert sorghum_columns == []
    assert data.x["train"].shape == (6, len(NUMERIC_FEATURES) + 2)  # + crop=Maize, soil=Loam
    assert len(data.feature_names) == data.x["test"].shape[1]
    assert set(CATEGORICAL_FEATURES) == {"crop", "soil_type"}


def test_rows_land_in_exactly_one_part():
    table = feature_table()
    data = prepare_model_data(table, temporal_split(table["season"], SplitConfig()))
    total = sum(len(v) for v in data.y.values())
    assert total == len(table)
    assert set(data.frames["test"]["season"]) == {2023}
