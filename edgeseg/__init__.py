"""edgeseg: from a segmentation dataset to measured latency, power and quality on a phone."""

from .version import __version__  # noqa: F401
