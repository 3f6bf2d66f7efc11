"""Datasets: layouts on disk, synthetic lane scenes, the training input pipeline."""
