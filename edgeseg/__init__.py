"""edgeseg: from a segmentation dataset to measured latency, power and quality on a phone."""

__version__ = "0.1.0"
