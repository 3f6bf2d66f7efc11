"""Quality of a predictor on a dataset split, scored at the masks' own resolution.

One function scores any predictor (a Keras model during training, the LiteRT interpreter
running the exact .tflite artifact afterwards), so training-time and deployed-artifact
numbers come from the same code.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.pipeline import Cached, restore_labels
from ..train.metrics import ConfusionAccumulator

#: predict(images_uint8 [N,H,W,3]) -> per-pixel class scores [N,H,W,C] or labels [N,H,W]
Predictor = Callable[[np.ndarray], np.ndarray]


def score_split(predict: Predictor, cache: Cached, num_classes: int, class_names=None,
                batch: int = 8, progress=None) -> dict:
    """Run ``predict`` over a cached split and return :func:`scores` at label resolution."""
    if cache.source_masks is None or cache.geometries is None:
        raise ValueError("score_split needs a split loaded with keep_source=True")
    acc = ConfusionAccumulator(num_classes)
    starts = range(0, len(cache), batch)
    for start in progress(starts, desc="evaluate", total=len(starts)) if progress else starts:
        out = np.asarray(predict(cache.images[start: start + batch]))
        labels = out.argmax(-1) if out.ndim == 4 else out
        for i, lab in enumerate(labels):
            k = start + i
            acc.update(cache.source_masks[k], restore_labels(lab, cache.geometries[k]))
    result = acc.result(class_names)
    result["images"] = len(cache)
    return result
