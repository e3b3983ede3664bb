import numpy as np
import pandas as pd

from yieldflow.ml.simple_means import crop_mean, farm_crop_mean


def history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "farm_id": ["A", "A", "A", "B", "B"],
            "crop": ["Maize", "Maize", "Soybean", "Maize", "Potato"],
            "yield_t_ha": [10.0, 12.0, 3.0, 14.0, 40.0],
        }
    )


def test_crop_mean_knows_only_the_crop():
    model = crop_mean().fit(history())
    target = pd.DataFrame({"farm_id": ["A", "Z"], "crop": ["Maize", "Potato"]})
    np.testing.assert_allclose(model.predict(target), [12.0, 40.0])


def test_farm_crop_mean_falls_back_to_the_crop_then_to_everything():
    model = farm_crop_mean().fit(history())
    target = pd.DataFrame(
        {"farm_id": ["A", "B", "A", "C"], "crop": ["Maize", "Maize", "Potato", "Wheat"]}
    )
    # A's maize; B's maize; A never grew potato → the crop's mean; wheat unseen → overall
    np.testing.assert_allclose(model.predict(target), [11.0, 14.0, 40.0, 15.8])
