"""One training run's settings: :class:`TrainConfig`, light (it reads the model, loss,
schedule, strategy and precision tables, none of which loads NumPy or TensorFlow), so the CLI
and the API build it without loading the training loop (edgeseg.training.loop)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..config import format_size, option, parse_size
from ..data.tables import AUGMENTATIONS, RESIZE_MODES
from ..errors import UsageError
from ..models.registry import DEFAULT_MODEL, MODELS, training_options
from .distribute import STRATEGIES
from .losses import LOSSES, WEIGHTED_LOSSES
from .precision import PRECISIONS
from .recipe import SCHEDULES

#: Epochs of a run without --epochs and without --time-budget.
DEFAULT_EPOCHS = 30


def _per_model(attr: str) -> str:
    return ", ".join(
        f"{k} {format_size(v) if isinstance(v, tuple) else v}"
        for k, v in ((k, getattr(m, attr)) for k, m in MODELS.items())
    )


@dataclass
class TrainConfig:
    """One training run. The fields with help are the options of `edgeseg train` (same names,
    same defaults); ``None`` takes the model's value from its row in MODELS."""

    data: str = option(None, "Dataset folder.", required=True)
    out: str = option(None, "Run folder to create (or resume).", required=True)
    model: str = option(DEFAULT_MODEL, f"{', '.join(MODELS)} (the table: edgeseg/models/registry.py).")
    input_size: tuple[int, int] | None = option(
        None, f"HxW. Default: the model's ({_per_model('input_size')}).", size=True
    )
    epochs: int | None = option(
        None,
        f"Epochs to train (default {DEFAULT_EPOCHS}; with --time-budget: as many as fit, this many at most).",
        min=1,
    )
    time_budget: str | None = option(
        None,
        "Train for this much wall-clock time (90s, 45m, 1.5h), counted from the start: the last epoch is cut "
        "short at the budget, and the learning-rate schedule decays over the steps that fit.",
    )
    val_every: int = option(1, "Validate every N epochs (and always the last).", min=1)
    progressive: bool | None = option(
        None,
        "Progressive resizing: train at 0.5x the input size for the first 35% of the run (of --time-budget, "
        "else of --epochs), at 0.75x to 65%, then at the full size; more images per minute. Validation (of the "
        "full-size epochs only), checkpoints and export stay at the full size (edgeseg/training/progressive.py). "
        "Default: on with --time-budget (it won on CamVid at equal budgets: docs/benchmarks.md) for the models "
        "that run at any size, off otherwise.",
        flag="--progressive/--no-progressive",
    )
    batch: int = option(8, "Images per step.", min=1)
    lr: float = option(1e-3, "Peak learning rate of Adam (after the warm-up).", min=0, min_open=True)
    decay_rate: float = option(
        0.8, "--schedule exp: LR factor every --decay-epochs.", flag="--decay", min=0, max=1, min_open=True
    )
    decay_epochs: float = option(3.0, "--schedule exp: epochs between LR decays.", min=0, min_open=True)
    schedule: str = option(
        "constant",
        "constant (with the EMA, the best measured at 35 CamVid epochs); cosine / "
        "poly: warm-up then decay to the last step; exp: the seed's (x --decay every "
        "--decay-epochs).",
        choices=SCHEDULES,
    )
    warmup_epochs: float = option(1.0, "Linear warm-up (cosine, poly).", min=0)
    ema: float = option(
        0.99,
        "Decay of the exponential moving average of the weights, the model that is validated, "
        "saved and exported (0 = off: the raw weights).",
        min=0,
        max=1,
        max_open=True,
    )
    jit_compile: bool = False  # XLA for the train step (benchmarks/train_throughput.py measures it)
    loss: str | None = option(
        None,
        "ce = cross-entropy (+ L2 from --l2), dice = soft Dice, ce_dice = both, ohem = "
        f"cross-entropy of the hardest pixels. Default: the model's ({_per_model('loss')}).",
        choices=LOSSES,
    )
    class_weights: bool = option(False, "Median-frequency (class-balanced) weights in the cross-entropy (ce, ce_dice).")
    augment: str = option(
        "flip",
        f"Comma list of {','.join(AUGMENTATIONS)}, or 'none'; 'default' = all "
        f"{len(AUGMENTATIONS)} (scale: random zoom 0.75-1.5x and crop; scale=MIN-MAX sets "
        "the range).",
    )
    resize: str = option(RESIZE_MODES[0], "How images meet the input size.", choices=RESIZE_MODES)
    seed: int = option(0, "Seed of the weights, the shuffling and the augmentation.")
    skip_bad: bool = option(False, "Skip unreadable or inconsistent files with a warning.")
    train_split: str = "train"
    val_split: str = "val"
    limit: int | None = option(None, "Use at most N images per split.", min=1)
    model_options: dict = field(default_factory=dict)
    #: the model's own training options (its registry row's ``training`` hooks, e.g. how a
    #: multi-configuration model samples its configurations), by name; None or missing: its default
    model_training: dict = field(default_factory=dict)
    strategy: str = option(
        "auto",
        "tf.distribute strategy: "
        + "; ".join(f"{r.name} = {r.description}" for r in STRATEGIES.values())
        + ". --batch is the global batch.",
        choices=STRATEGIES,
    )
    precision: str = option(
        "float32",
        "Compute format of training: "
        + "; ".join(f"{r.name} = {r.description}" for r in PRECISIONS.values())
        + ". Exported artifacts are float32/int8 either "
        "way.",
        choices=PRECISIONS,
    )

    def __post_init__(self):
        """The defaults that depend on the model come from its registry row, so a config built
        in Python trains what the CLI trains; the rest is checked here, before any work."""
        for name in ("data", "out"):
            if not getattr(self, name):
                raise UsageError(f"training needs --{name}", param="--" + name)
        if self.model not in MODELS:
            near = difflib.get_close_matches(str(self.model), list(MODELS), n=1)
            raise UsageError(
                f"unknown model '{self.model}'{f' (did you mean {near[0]!r}?)' if near else ''}; "
                f"choose from {', '.join(MODELS)}",
                param="--model",
            )
        spec = MODELS[self.model]
        if self.loss is None:
            self.loss = spec.loss
        if self.input_size is None:
            self.input_size = spec.input_size
        self.input_size = tuple(int(v) for v in parse_size(self.input_size))
        for name, table in (
            ("loss", LOSSES),
            ("schedule", SCHEDULES),
            ("resize", RESIZE_MODES),
            ("strategy", STRATEGIES),
            ("precision", PRECISIONS),
        ):
            if getattr(self, name) not in table:
                raise UsageError(
                    f"{name} '{getattr(self, name)}' is not one of {', '.join(table)}",
                    param="--" + name.replace("_", "-"),
                )
        self._fit_to_budget()
        takes = training_options()
        for key, value in (self.model_training or {}).items():
            if key not in takes:
                raise UsageError(f"no model takes the training option {key!r}; options: {', '.join(takes) or 'none'}")
            if value is not None and self.model not in takes[key]:
                flag = "--" + key.replace("_", "-")
                raise UsageError(
                    f"{flag} is for {' and '.join(takes[key])} runs; {self.model} has no such option", param=flag
                )
        if self.class_weights and self.loss not in WEIGHTED_LOSSES:
            raise UsageError(
                f"--class-weights weights the cross-entropy of --loss {' or '.join(WEIGHTED_LOSSES)}, and "
                f"--loss {self.loss} does not use them: use --loss ce or --loss ce_dice with "
                "--class-weights, or drop --class-weights"
            )

    def _fit_to_budget(self) -> None:
        """--epochs from --time-budget: the budget parsed (a clear error), epochs capped; and
        --progressive's default (on with a budget)."""
        from .budget import BUDGET_EPOCH_CAP, parse_duration

        fixed = MODELS[self.model].fixed_size
        if self.progressive is None:  # the budget's default recipe: what won at equal budgets
            self.progressive = self.time_budget is not None and not fixed
        elif self.progressive and fixed:
            raise UsageError(
                f"--progressive trains at smaller input sizes, and {self.model} cannot ({fixed}): "
                "drop --progressive for this model",
                param="--progressive",
            )
        if self.time_budget is None:
            self.epochs = DEFAULT_EPOCHS if self.epochs is None else self.epochs
            return
        parse_duration(self.time_budget)
        if STRATEGIES[self.strategy].multiworker:
            raise UsageError(
                "--time-budget stops each worker on its own clock, and the workers of a multi-worker run "
                "must stop together: train a multi-worker run with --epochs",
                param="--time-budget",
            )
        self.epochs = BUDGET_EPOCH_CAP if self.epochs is None else self.epochs
