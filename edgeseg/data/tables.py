"""The data stage's choices as tables: light (no NumPy, no PIL), read by the CLI and the
configs without loading the pipeline."""

#: How images meet the model's input size (edgeseg.data.pipeline).
RESIZE_MODES = ("letterbox", "stretch")
#: The training augmentations (edgeseg.data.pipeline).
AUGMENTATIONS = ("flip", "brightness", "noise", "scale", "color")
#: The image file formats a synthetic dataset can be written in (masks are always PNG).
IMAGE_FORMATS = ("png", "jpg")
#: The default resolution of a synthetic scene (height, width).
SYNTH_SIZE = (192, 320)
