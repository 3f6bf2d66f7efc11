"""The training recipe's parts that are not the loss: learning-rate schedules and the
exponential moving average (EMA) of the weights.

Schedules (:data:`SCHEDULES`): ``constant`` (the default: with the EMA below it scored best at
35 CamVid epochs, benchmarks/camvid_recipe.py), ``cosine`` (linear warm-up, then cosine decay to
1% of the peak at the last step), ``poly`` (warm-up, then (1 - progress)^0.9), ``exp`` (the
seed's: Adam with the rate times ``decay_rate`` every ``decay_epochs``).

EMA: after every step each model variable's average moves towards it,
``avg = d * avg + (1 - d) * value`` with ``d = min(decay, (1 + n) / (10 + n))`` at step n
(the warm-up of tf.train.ExponentialMovingAverage's ``num_updates``), BatchNorm's moving
statistics included. The averaged weights are the model of record: validated every epoch,
written to best/last.weights.h5 and exported; the raw weights keep training.
"""

from __future__ import annotations

import math

from ..errors import TrainError

SCHEDULES = ("cosine", "poly", "exp", "constant")
FINAL_LR_FRACTION = 0.01
POLY_POWER = 0.9


def learning_rate(
    schedule: str,
    step: float,
    peak: float,
    total_steps: int,
    warmup_steps: int,
    decay_rate: float = 0.8,
    decay_steps: int = 1,
) -> float:
    """The rate at ``step`` (a plain function: the Keras schedule below and the tests share it)."""
    if schedule == "exp":
        return peak * decay_rate ** (step / max(1, decay_steps))
    if schedule == "constant":
        return peak
    if warmup_steps and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        floor = peak * FINAL_LR_FRACTION
        return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))
    if schedule == "poly":
        return peak * (1 - progress) ** POLY_POWER
    raise TrainError(f"unknown schedule '{schedule}'; choose from {', '.join(SCHEDULES)}")


def make_schedule(
    keras, schedule: str, peak: float, total_steps: int, warmup_steps: int, decay_rate: float, decay_steps: int
):
    """A Keras LearningRateSchedule for ``schedule``."""
    if schedule not in SCHEDULES:
        raise TrainError(f"unknown schedule '{schedule}'; choose from {', '.join(SCHEDULES)}")
    if schedule == "exp":
        return keras.optimizers.schedules.ExponentialDecay(peak, decay_steps=max(1, decay_steps), decay_rate=decay_rate)
    import tensorflow as tf

    class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self):
            super().__init__()
            #: the step the decay ends at: a variable, so that a --time-budget run moves it to
            #: the epochs that fit as it measures them (edgeseg.training.budget)
            self.total_steps = tf.Variable(float(total_steps), trainable=False, dtype=tf.float32, name="lr_total_steps")

        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            if schedule == "constant":
                return tf.constant(peak, tf.float32)
            warm = tf.constant(float(max(warmup_steps, 0)), tf.float32)
            ramp = peak * (step + 1.0) / tf.maximum(warm, 1.0)
            span = tf.maximum(self.total_steps - warm, 1.0)
            progress = tf.clip_by_value((step - warm) / span, 0.0, 1.0)
            if schedule == "cosine":
                floor = peak * FINAL_LR_FRACTION
                decayed = floor + 0.5 * (peak - floor) * (1.0 + tf.cos(math.pi * progress))
            else:
                decayed = peak * tf.pow(1.0 - progress, POLY_POWER)
            return tf.where(step < warm, ramp, decayed)

        def get_config(self):
            return {
                "schedule": schedule,
                "peak": peak,
                "total_steps": int(self.total_steps.numpy()),
                "warmup_steps": warmup_steps,
            }

    return WarmupDecay()


class WeightEMA:
    """The moving average of a model's variables (see the module doc), with the swap that
    puts it into the model for validation and saving and takes it out again."""

    def __init__(self, model, decay: float):
        import tensorflow as tf

        if not 0.0 < decay < 1.0:
            raise TrainError(f"--ema must be in (0, 1) (or 0 to switch it off), got {decay}")
        self.decay = decay
        self.variables = list(model.weights)
        self.module = tf.Module()
        self.module.average = [tf.Variable(v, trainable=False, name=f"ema_{i}") for i, v in enumerate(self.variables)]
        self.module.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="ema_updates")
        self._backup = [tf.Variable(v, trainable=False) for v in self.variables]
        self.average = self.module.average

        @tf.function
        def update():
            n = tf.cast(self.module.updates, tf.float32)
            d = tf.minimum(tf.constant(decay, tf.float32), (1.0 + n) / (10.0 + n))
            for avg, v in zip(self.average, self.variables):
                avg.assign(d * avg + (1.0 - d) * tf.cast(v, avg.dtype))
            self.module.updates.assign_add(1)

        @tf.function
        def swap_in():
            for b, v, avg in zip(self._backup, self.variables, self.average):
                b.assign(v)
                v.assign(avg)

        @tf.function
        def swap_out():
            for b, v in zip(self._backup, self.variables):
                v.assign(b)

        self.update, self._swap_in, self._swap_out = update, swap_in, swap_out

    def reset(self) -> None:
        """Start the average at the current weights (a run that starts; not a resume)."""
        for avg, v in zip(self.average, self.variables):
            avg.assign(v)
        self.module.updates.assign(0)

    def __enter__(self):
        self._swap_in()
        return self

    def __exit__(self, *exc):
        self._swap_out()
        return False

    def callback(self, keras):
        ema = self

        class EmaUpdate(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                ema.update()

        return EmaUpdate()
