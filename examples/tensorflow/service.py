"""Handwritten digits with a small Keras model (TensorFlow, CPU), batched.

An image is 64 numbers: the 8x8 pixels of scikit-learn's `load_digits`, row by row, each
0-16. The model is `digits.keras` beside this file, made by `train.py` (~98% on held-out
digits), so nothing is downloaded at run time.

    crosscloud serve examples/tensorflow/service.py:Digits --port 8000
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import pydantic

from crosscloud import Resources, Service, endpoint

MODEL_PATH = Path(__file__).with_name("digits.keras")


class Image(pydantic.RootModel[list[float]]):
    """64 pixel values, 0-16, row by row (sent as a plain JSON array)."""

    root: Annotated[
        list[Annotated[float, pydantic.Field(ge=0, le=16)]],
        pydantic.Field(min_length=64, max_length=64),
    ]


class Digits(Service):
    """Classifies 8x8 handwritten digits (0-9) with a Keras model."""

    name = "digits"
    resources = Resources(cpu=1, memory="2Gi")
    requirements = ["tensorflow-cpu==2.21.0"]

    forward: Any
    numpy: Any

    def setup(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import numpy
        import tensorflow as tf

        # Threads must be set before TensorFlow runs its first op. One per CPU this replica
        # was given: more threads than cores on a shared machine only adds contention.
        tf.config.threading.set_intra_op_parallelism_threads(self.resources.threads())
        tf.config.threading.set_inter_op_parallelism_threads(1)
        model = keras.saving.load_model(MODEL_PATH, compile=False)
        # One traced graph for every batch size, instead of model.predict()'s per-call setup.
        self.forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec(shape=(None, 64), dtype=tf.float32)],
        )
        self.numpy = numpy
        self.forward(numpy.zeros((1, 64), dtype=numpy.float32))

    def _probabilities(self, images: list[Image]) -> Any:
        pixels = self.numpy.asarray([image.root for image in images], dtype=self.numpy.float32)
        return self.forward(pixels).numpy()

    @endpoint(batch=True, max_batch_size=64, max_wait_ms=5)
    def predict(self, images: list[Image]) -> list[int]:
        """The most likely digit for each image."""
        return self._probabilities(images).argmax(axis=1).tolist()  # type: ignore[no-any-return]

    @endpoint(batch=True, max_batch_size=64, max_wait_ms=5)
    def predict_proba(self, images: list[Image]) -> list[list[float]]:
        """The probability of each digit 0-9, for each image."""
        return self._probabilities(images).astype("float64").round(6).tolist()  # type: ignore[no-any-return]
