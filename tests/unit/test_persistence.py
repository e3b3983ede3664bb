import pickle

import numpy as np
import pytest
import torch

from yieldflow.ml.mlp import YieldMLP, predict
from yieldflow.ml.persistence import WEIGHTS_FILE, load_mlp, save_mlp


def test_local_model_copy_round_trips_without_pickle(tmp_path):
    torch.manual_seed(0)
    model = YieldMLP(3, [4], np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]), 5.0, 2.0)
    save_mlp(model, tmp_path / "model", ["a", "b", "c"], [4])
    loaded, names = load_mlp(tmp_path / "model")
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    assert names == ["a", "b", "c"]


def test_a_pickled_object_in_place_of_the_weights_is_refused(tmp_path):
    save_mlp(YieldMLP(2, [3]), tmp_path, ["a", "b"], [3])

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    (tmp_path / WEIGHTS_FILE).write_bytes(pickle.dumps({"net.0.weight": Payload()}))
    with pytest.raises(pickle.UnpicklingError):
        load_mlp(tmp_path)
