"""Memory and disk a training run will need, checked before any work starts.

A run at an input size the machine cannot hold should be refused with the numbers and
what to change, not end in a TensorFlow OOM traceback minutes later; a full disk should be
found before a checkpoint write (HDF5 can crash the process on ENOSPC), not by it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import TrainError

GIB = 1024**3


def available_memory_bytes() -> int | None:
    """Memory this process can still use: MemAvailable, capped by a cgroup v2 limit."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            avail = min(avail, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return avail


def cache_bytes(n_images: int, size: tuple[int, int]) -> int:
    """The decoded image cache: uint8 RGB image plus uint8 mask per sample at the input size."""
    h, w = size
    return n_images * h * w * 4


def activation_bytes(model, batch: int) -> int:
    """A lower bound of what one training step holds: every layer output of the batch in
    float32, kept for the backward pass, plus its gradient of the same size."""
    total = 0
    for layer in model.layers:
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for t in outputs:
            shape = getattr(t, "shape", None)
            if shape is None or len(shape) == 0:
                continue
            n = 1
            for d in list(shape)[1:]:
                n *= int(d or 1)
            total += n
    return 2 * 4 * batch * total


def check_memory(what: str, needed: int, fix: str, available: int | None = None) -> None:
    """Refuse when ``needed`` bytes exceed 90% of the available memory."""
    available = available_memory_bytes() if available is None else available
    if available is None or needed <= 0.9 * available:
        return
    raise TrainError(
        f"{what} needs about {needed / GIB:.1f} GiB of memory but this machine has "
        f"{available / GIB:.1f} GiB available: {fix}"
    )


def existing_parent(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_disk(path: Path, needed: int, what: str, then: str = "run again") -> None:
    """Refuse when the file system holding ``path`` has fewer than ``needed`` bytes free."""
    where = existing_parent(path)
    free = shutil.disk_usage(where).free
    if free < needed:
        raise TrainError(
            f"not enough free disk space in {where} for {what}: about {needed / 1e6:,.0f} MB needed, "
            f"{free / 1e6:,.0f} MB free; free some space and {then}"
        )


def checkpoint_bytes(params: int) -> dict:
    """On-disk sizes for a model of ``params`` float32 parameters: one .weights.h5 file and
    one tf.train checkpoint (model + Adam's two moments)."""
    weights = 4 * params + (1 << 20)
    ckpt = 3 * 4 * params + (1 << 20)
    # best + last + the temporary file of an atomic save, and up to three checkpoints
    # (two kept, one being written)
    return {"weights": weights, "ckpt": ckpt, "run": 3 * weights + 3 * ckpt}
