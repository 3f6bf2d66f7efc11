"""The training recipe: learning-rate schedules (by hand), the weights' moving average."""

import math

import numpy as np
import pytest

from edgeseg.errors import TrainError
from edgeseg.training.recipe import FINAL_LR_FRACTION, learning_rate, make_schedule


def test_cosine_warms_up_then_decays_to_one_percent():
    lr = lambda s: learning_rate("cosine", s, 1e-3, total_steps=100, warmup_steps=10)  # noqa: E731
    assert lr(0) == pytest.approx(1e-4) and lr(9) == pytest.approx(1e-3)
    assert lr(10) == pytest.approx(1e-3)
    assert lr(55) == pytest.approx(1e-3 * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5))
    assert lr(100) == pytest.approx(1e-3 * FINAL_LR_FRACTION)
    assert all(lr(a) >= lr(a + 1) for a in range(10, 100))
    assert learning_rate("poly", 100, 1e-3, 100, 10) == 0.0
    assert learning_rate("exp", 30, 1e-3, 100, 0, decay_rate=0.5, decay_steps=15) == pytest.approx(2.5e-4)
    assert learning_rate("constant", 70, 1e-3, 100, 10) == 1e-3
    with pytest.raises(TrainError, match="unknown schedule 'linear'"):
        learning_rate("linear", 1, 1e-3, 10, 0)


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["cosine", "poly", "exp", "constant"])
def test_keras_schedule_matches_the_formula(name):
    from edgeseg.config import import_keras

    keras = import_keras()
    sched = make_schedule(keras, name, 2e-3, 200, 20, 0.8, 30)
    for step in (0, 5, 19, 20, 21, 100, 199, 200):
        want = learning_rate(name, step, 2e-3, 200, 20, 0.8, 30)
        assert float(sched(step)) == pytest.approx(want, rel=1e-5, abs=1e-9), (name, step)


@pytest.mark.e2e
def test_weight_ema_averages_swaps_and_restores():
    from edgeseg.config import import_keras
    from edgeseg.training.recipe import WeightEMA

    keras = import_keras()
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.BatchNormalization()(inp)))
    ema = WeightEMA(model, 0.9)
    start = [w.numpy().copy() for w in model.weights]
    for v in model.weights:
        v.assign(v + 1.0)
    ema.update()  # n = 0: d = min(0.9, 1/10) = 0.1
    d = 0.1
    for a, s, w in zip(ema.average, start, model.weights):
        assert np.allclose(a.numpy(), d * s + (1 - d) * w.numpy())
    raw = [w.numpy().copy() for w in model.weights]
    with ema:
        assert all(np.allclose(w.numpy(), a.numpy()) for w, a in zip(model.weights, ema.average))
    assert all(np.allclose(w.numpy(), r) for w, r in zip(model.weights, raw))
    assert int(ema.module.updates.numpy()) == 1 and not math.isnan(float(ema.average[0].numpy().sum()))
    with pytest.raises(TrainError):
        WeightEMA(model, 1.0)
