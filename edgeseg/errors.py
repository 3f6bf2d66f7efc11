"""Errors that carry a message saying what to do next.

Library code raises these; the CLI turns them into one-line messages. Any other exception
is a bug and keeps its traceback.
"""


class EdgesegError(Exception):
    """Base class: the message is shown to the user as is."""


class UsageError(EdgesegError):
    """Options that cannot go together, or a value outside its table: the CLI shows it as a
    usage error (exit status 2). ``param`` names the option, where one is to blame."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class OutputError(EdgesegError):
    """An output (file or folder) cannot be created or written: a file where a folder is
    needed, a folder where a file is, no permission, a name too long, too little free space,
    a disk that filled while writing, or another process writing the same file."""


class DataError(EdgesegError):
    """A dataset, image or mask cannot be used."""


class ModelError(EdgesegError):
    """A model name, configuration or run directory is wrong."""


class TrainError(EdgesegError):
    """Training cannot start or continue."""


class Interrupted(EdgesegError):
    """Work stopped by Ctrl-C or SIGTERM after cleaning up; the message says what is left and
    how to continue. ``signal`` is "Ctrl-C" or "SIGTERM" (the CLI exits 130 or 143)."""

    def __init__(self, message: str, signal: str = "Ctrl-C"):
        super().__init__(message)
        self.signal = signal


class TrainInterrupted(TrainError, Interrupted):
    """Training was stopped with Ctrl-C or SIGTERM; the message says how to continue."""


class QuantizeError(EdgesegError):
    """Conversion or calibration failed."""


class ArtifactError(EdgesegError):
    """A .tflite file or its manifest is missing, truncated or not a TFLite model."""


class RuntimeBackendError(EdgesegError):
    """No TFLite interpreter could be loaded, or it refused the model."""


class DeviceError(EdgesegError):
    """A device profile, connection or command on the device failed."""


class ReportError(EdgesegError):
    """A report folder is missing or malformed."""
