"""Progressive resizing (``edgeseg train --progressive``): the first part of a run trains on
smaller copies of the cached images, so that it sees more images per minute, and the rest at
the model's input size, which is what validation, the checkpoints and export always use.

The rule is one table, :data:`STAGES`: from which fraction of the run each input scale
applies. The fraction is the finished share of ``--epochs``, or with ``--time-budget`` the
larger of that and the budget's elapsed share; the size of an epoch is decided when it
starts. With a budget the option is on by default (it won at equal budgets on CamVid). A scaled size
keeps the input's aspect and is rounded to the model's stride (its registry row), at least
one stride. Downscaling is bilinear with antialiasing for images and nearest for masks (a
class index is never blended). Only full-size epochs (and the last) are validated: a model
trained at another size is not the model of record, and validating it would spend the time
the small epochs save.

The idea and its reason (small images early are cheap and teach coarse structure; the last
part at full size removes the train/test size gap) are from fast.ai's DAWNBench entries and
from Tan & Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021 (progressive
learning); what it buys on CamVid here is measured in ``benchmarks/camvid_budget.py``.
"""

from __future__ import annotations

#: (fraction of the run from which it applies, input scale); the last row is the full size.
STAGES: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.35, 0.75), (0.65, 1.0))


def stage_scale(fraction: float, stages: tuple[tuple[float, float], ...] = STAGES) -> float:
    """The input scale at ``fraction`` (0 = the start, 1 = the end) of a run."""
    scale = stages[0][1]
    for start, value in stages:
        if fraction >= start:
            scale = value
    return scale


def scaled_size(size: tuple[int, int], scale: float, stride: int) -> tuple[int, int]:
    """``size`` (H, W) times ``scale``, each side rounded to a multiple of ``stride`` (at
    least one stride, at most the side itself)."""
    out = []
    for side in size:
        n = max(1, int(side * scale / stride + 0.5))  # halves round up
        out.append(min(side, n * stride))
    return out[0], out[1]


def run_fraction(epoch: int, epochs: int, budget=None) -> float:
    """How far into the run epoch ``epoch`` (0-based) starts: the finished share of
    ``epochs``, or with a budget the larger of that and the budget's elapsed share (a budget
    that the epoch cap ends first still reaches the full size)."""
    done = epoch / max(1, epochs)
    if budget is not None:
        done = max(done, budget.elapsed() / budget.budget_s)
    return min(1.0, max(0.0, done))
