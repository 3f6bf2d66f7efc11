"""edgeseg: from a segmentation dataset to measured latency, power and quality on a phone."""

__version__ = "0.2.0"
