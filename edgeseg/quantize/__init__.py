"""Export and post-training quantization to .tflite, and the artifact manifest."""
