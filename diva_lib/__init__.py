"""DIVA reproduction library: data, models, adaptation, attacks and metrics."""

import os

# tensorflow-model-optimization needs Keras 2; this must happen before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
