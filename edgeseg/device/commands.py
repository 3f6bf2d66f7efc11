"""`edgeseg eval` (on the host, or per delegate on a device against the host) and `edgeseg deploy`
as functions: their configs, typed results and the work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import option
from ..errors import UsageError
from ..results import Result, _pick
from .config import DeviceConfig


@dataclass(frozen=True)
class EvalConfig:
    target: str
    data: str = option(None, "Dataset folder.", required=True)
    split: str = option("val", "Split to score.")
    threads: int | None = option(None, "Interpreter threads.", min=1)
    limit: int | None = option(None, "Evaluate at most N images.", min=1)
    skip_bad: bool = option(False, "Skip unreadable or inconsistent files with a warning.")
    signature: str | None = option(
        None, "Multi-signature (PTA) artifact: evaluate this configuration only (default: every one)."
    )
    classes_from: str | None = option(
        None,
        "The model's class names must be the dataset's; 'dataset' scores "
        "under the dataset's names when they differ (same count).",
        choices=("dataset",),
    )
    record: bool | None = option(
        None,
        "Store the result in the artifact's manifest (where bench, report and select "
        "read quality). Default: only for the val split of the dataset the model was "
        "trained on.",
        flag="--record/--no-record",
    )
    device: str | DeviceConfig | None = option(
        None,
        "Run the artifact on this device profile (name or .toml) with each --delegate, "
        "and score it against the host on the same frames (quality.csv in a report "
        "folder). In Python: a name or a DeviceConfig (serial, transport, address, key, adb server).",
    )
    delegates: tuple[str, ...] | None = option(
        None, "--device: comma list of the profile's delegates (default: every one).", flag="--delegate"
    )
    frames: int | None = option(None, "--device: the first N frames of the split (default: all).", min=1)
    fail_on_numerics: bool = option(
        False,
        "--device: exit 1 on a numerics-differ row too (argmax agreement with the host below the "
        "bound, quality kept; by default a warning and exit 0).",
    )
    benchmark_binary: str | None = option(
        None,
        "--device: benchmark_model for the device's ABI (default: the "
        "profile's, else LiteRT's official build, as `edgeseg bench`).",
    )
    reports: str = option("reports", "--device: where the report folder is created.")
    command: str | None = None  # what run.json records as the command (the CLI passes its argv)

    def __post_init__(self):
        if isinstance(self.device, str):  # composed: how to reach the device is a DeviceConfig
            object.__setattr__(self, "device", DeviceConfig(self.device))
        if isinstance(self.delegates, str):
            object.__setattr__(self, "delegates", tuple(d.strip() for d in self.delegates.split(",") if d.strip()))
        elif self.delegates is not None:
            object.__setattr__(self, "delegates", tuple(str(d) for d in self.delegates))
        if self.device is None:
            flags = {
                "delegates": "--delegate",
                "frames": "--frames",
                "benchmark_binary": "--benchmark-binary",
                "fail_on_numerics": "--fail-on-numerics",
            }
            given = [
                flag for f, flag in flags.items() if getattr(self, f) is not None and getattr(self, f) is not False
            ]
            if given:
                raise UsageError(
                    f"{given[0]} goes with --device (on the host: plain `edgeseg eval`, --limit N for fewer images)",
                    param=given[0],
                )
            return
        if self.device.device == "host":
            raise UsageError("--device host: plain `edgeseg eval` (without --device) is the host", param="--device")
        if Path(self.target).is_dir():
            raise UsageError(
                f"--device runs an artifact, and {self.target} is a folder: pass a .tflite (export one with "
                "`edgeseg quantize`)"
            )
        if self.delegates is not None and not self.delegates:
            raise UsageError("name at least one delegate", param="--delegate")
        if self.limit is not None:
            raise UsageError("--device takes --frames N (the frames run on the device and on the host), not --limit")
        if self.record:
            raise UsageError("--record stores host quality in the manifest; --device rows go to the report folder")

    @property
    def device_name(self) -> str | None:
        """The device profile's name or path (None: the host)."""
        return self.device.device if self.device is not None else None

    def device_config(self) -> DeviceConfig:
        return self.device


@dataclass(frozen=True)
class EvalResult(Result):
    artifact: str
    dataset: str
    split: str
    miou: float | None
    per_class_iou: dict | None
    signatures: dict | None
    rows: list | None = None  # --device: the host's and each delegate's rows (quality.csv)
    report: str | None = None
    fail_on_numerics: bool | None = None  # --device: a numerics-differ row fails the command too

    @property
    def ok(self) -> bool:
        """No device row ``diverged`` (quality lost or changed) or ``failed``; ``ok``, ``unsupported`` (which
        says why) and ``numerics-differ`` (a warning: quality kept) pass, the last unless
        ``fail_on_numerics``."""
        passing = ("ok", "unsupported") + (() if self.fail_on_numerics else ("numerics-differ",))
        return all(r.get("status") in passing for r in self.rows or [])


@dataclass(frozen=True)
class DeployConfig(DeviceConfig):
    device: str = option(None, "Profile name or path to a profile .toml.", required=True)
    artifact: str = ""


@dataclass(frozen=True)
class DeployResult(Result):
    remote: str
    sha256: str
    skipped: bool
    attempts: int
    started_adb_server: bool


def deploy(config: DeployConfig, *, progress_factory=None) -> DeployResult:
    """Push an artifact and its manifest to the device's work folder, verified by sha256."""
    from ..artifact import check_tflite_file
    from .deploy import deploy as run_deploy

    check_tflite_file(config.artifact)  # before connecting: a bad path is not a missing phone
    with config.session() as s:
        res = run_deploy(s, config.artifact, progress_factory)
    return _pick(DeployResult, {**res, "started_adb_server": bool(s.started_adb_server)})
