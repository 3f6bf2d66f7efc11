"""Where training runs: the tf.distribute strategies as rows of one table, and this
process's place in a multi-worker cluster.

A multi-worker run is configured the standard way (TensorFlow's "Multi-worker training
with Keras" guide): every worker runs the same `edgeseg train ... --strategy multiworker`
with its own ``TF_CONFIG``::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'

The chief (the ``chief`` task, else worker 0) writes the run folder; the other workers
write their share of every checkpoint into a temporary folder that is removed when they
finish (all workers must take part in a save, the guide says, and only one copy is kept).
``--batch`` is the global batch: tf.distribute splits each batch of the dataset across the
replicas, so the learning rate of a run means the same on one process or on several with
the same ``--batch`` (the guide's advice to scale the rate applies when the per-replica
batch is kept and the global one grows; here the global one is kept). Resume reads the
chief's ``RUN/ckpt``: the workers must see the run folder at the same path (one machine,
or a shared filesystem).

Differences from one process with the same global batch: batch normalisation computes its
statistics per replica (a smaller batch), and OHEM keeps the hardest pixels of each
replica's share of the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Role:
    """This process's task in the cluster of ``TF_CONFIG`` (one process: the chief of one)."""

    task_type: str = "worker"
    index: int = 0
    workers: int = 1
    has_chief_task: bool = False

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.index == 0 and not self.has_chief_task)

    def describe(self) -> str:
        return f"{self.task_type} {self.index} of a cluster of {self.workers}"


def cluster_role(environ=None) -> Role:
    """The task ``TF_CONFIG`` gives this process, checked: a clear UsageError for JSON that
    does not parse, a cluster with no workers, or a task that is not in it."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        raise UsageError(
            "--strategy multiworker reads the cluster from TF_CONFIG, which is not set: set it on each "
            'worker, e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": '
            '{"type": "worker", "index": 0}}\' (index 1 on the second), or use --strategy one',
            param="--strategy",
        )
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos})", param="--strategy"
        ) from None
    cluster = cfg.get("cluster") if isinstance(cfg, dict) else None
    task = cfg.get("task") if isinstance(cfg, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UsageError(
            'TF_CONFIG needs a "cluster" (task type -> list of host:port) and a "task" ({"type", "index"})',
            param="--strategy",
        )
    for kind, hosts in cluster.items():
        if not isinstance(hosts, list) or not all(isinstance(h, str) and _host_port(h) for h in hosts):
            raise UsageError(
                f'TF_CONFIG cluster "{kind}" must be a list of "host:port" strings (port 1-65535), got {hosts!r}',
                param="--strategy",
            )
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise UsageError(
            f"TF_CONFIG's task {task!r} is not in its cluster ({', '.join(f'{k}: {len(v)}' for k, v in cluster.items())})",
            param="--strategy",
        )
    if kind not in ("chief", "worker"):
        raise UsageError(
            f"TF_CONFIG task type {kind!r}: MultiWorkerMirroredStrategy runs chief and worker tasks only",
            param="--strategy",
        )
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return Role(kind, index, workers, "chief" in cluster)


def resolve_cluster(environ=None) -> None:
    """Every host of ``TF_CONFIG``'s cluster resolves (before training waits on its peers): a
    host that does not is a UsageError naming it, not a silent hang."""
    cfg = json.loads((os.environ if environ is None else environ).get("TF_CONFIG", "{}") or "{}")
    for kind, hosts in (cfg.get("cluster") or {}).items():
        for h in hosts:
            _resolve(h, f"TF_CONFIG {kind}")


def _host_port(text: str) -> tuple[str, int] | None:
    """``"host:port"`` -> (host, port), or None when it is not one (a port 1-65535 in ASCII digits)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return None
    return host.strip("[]"), int(port)


def _resolve(text: str, where: str) -> None:
    """A cluster address whose host does not resolve is a UsageError now, not a silent wait."""
    import socket

    host, port = _host_port(text)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(
            f"{where} address {text!r}: the host {host!r} does not resolve ({exc.strerror or exc}); "
            "fix TF_CONFIG on every worker",
            param="--strategy",
        ) from None


#: How long a multi-worker run waits for its peers (seconds) in any collective step, the first
#: included: a peer that never starts ends the run with a TrainError naming the cluster, not a
#: silent hang. EDGESEG_PEER_TIMEOUT_S overrides it.
PEER_TIMEOUT_S = 300.0


def peer_timeout_s(environ=None) -> float:
    text = (os.environ if environ is None else environ).get("EDGESEG_PEER_TIMEOUT_S")
    if text is None:
        return PEER_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise UsageError(f"EDGESEG_PEER_TIMEOUT_S={text!r} is not a number of seconds > 0", param="--strategy")
    return value


def _auto(tf):
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def _one(tf):
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")


def _mirrored(tf):
    return tf.distribute.MirroredStrategy()


def _multiworker(tf):
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=peer_timeout_s())
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


@dataclass(frozen=True)
class StrategyRow:
    name: str
    description: str
    make: Callable  # tf -> a tf.distribute.Strategy
    multiworker: bool = False


#: name -> how `edgeseg train --strategy NAME` places the training.
STRATEGIES = {
    row.name: row
    for row in (
        StrategyRow(
            "auto",
            "MirroredStrategy over the visible GPUs when there are several, else the default one-device strategy",
            _auto,
        ),
        StrategyRow("one", "OneDeviceStrategy: the first GPU, else the CPU", _one),
        StrategyRow("mirrored", "MirroredStrategy: every local GPU (the CPU where there is none)", _mirrored),
        StrategyRow(
            "multiworker",
            "MultiWorkerMirroredStrategy over the workers of TF_CONFIG (see edgeseg/training/distribute.py)",
            _multiworker,
            multiworker=True,
        ),
    )
}


def role_for(name: str, environ=None) -> Role:
    """This process's role under strategy ``name``: the cluster's for multiworker, else the
    chief of one."""
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy '{name}'; choose from {', '.join(STRATEGIES)}", param="--strategy")
    if not STRATEGIES[name].multiworker:
        return Role()
    role = cluster_role(environ)
    resolve_cluster(environ)
    return role


def make_strategy(name: str):
    """The tf.distribute strategy of row ``name``. MultiWorkerMirroredStrategy must exist
    before TensorFlow runs anything else in the process: call this first."""
    from ..config import import_tf

    return STRATEGIES[name].make(import_tf())
