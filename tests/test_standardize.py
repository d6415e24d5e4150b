"""tfmusictag.standardize: the streamed mean and 1/std of feature rows against NumPy over all rows at
once, constant features only centred, no rows one clear error, and the weights a layer keeps them in."""

import keras
import numpy as np
import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.standardize import add_standardization_weights, fit_standardization


def test_blocks_of_rows_give_numpys_mean_and_inverse_std_of_all_rows():
    rng = np.random.default_rng(0)
    rows = rng.normal(3.0, 2.5, (1000, 5)).astype(np.float32) * [1, 10, 0.01, 1e3, 1]
    blocks = [rows[:7], rows[7:500].reshape(17, 29, 5), rows[500:]]  # any leading shape; the last axis is D
    mean, scale, n = fit_standardization(iter(blocks))
    assert n == 1000 and mean.dtype == scale.dtype == np.float32
    np.testing.assert_allclose(mean, rows.astype(np.float64).mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scale, 1 / rows.astype(np.float64).std(0), rtol=1e-4)
    z = (rows - mean) * scale
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-3)


def test_a_feature_that_never_varies_is_only_centred():
    rows = np.column_stack([np.full(50, 7.0), np.arange(50.0)])
    mean, scale, _ = fit_standardization([rows])
    assert mean[0] == 7.0 and scale[0] == 1.0 and np.isfinite(scale).all()


def test_no_rows_is_one_clear_error_naming_what_was_standardised():
    with pytest.raises(ParameterError, match="standardising the LSTM inputs needs at least one training vector"):
        fit_standardization(iter([]), what="LSTM inputs")


def test_the_weights_start_as_the_identity_and_are_not_trained():
    layer = keras.layers.Layer()
    add_standardization_weights(layer, 3)
    assert layer.mean.numpy().tolist() == [0, 0, 0] and layer.scale.numpy().tolist() == [1, 1, 1]
    assert float(layer.fitted.numpy()) == 0.0 and not layer.trainable_weights
