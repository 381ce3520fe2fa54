"""hiwm: human-in-the-world-model robot post-training."""

__version__ = "0.1.0"
