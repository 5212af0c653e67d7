"""Train the small Keras digit classifier that `service.py` serves, and save it as digits.keras.

The data is scikit-learn's bundled `load_digits` (1,797 images of 8x8 pixels, values 0-16),
which ships inside the scikit-learn wheel, so nothing is downloaded. `split()` is the one fixed
train/held-out split: training never sees the held-out part, and the tests score it.

    python examples/tensorflow/train.py            # writes examples/tensorflow/digits.keras
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

MODEL_PATH = Path(__file__).with_name("digits.keras")
HELD_OUT_FRACTION = 0.2
SEED = 0
PIXELS = 64
MAX_PIXEL = 16.0


def split() -> tuple[Any, Any, Any, Any]:
    """(x_train, y_train, x_held_out, y_held_out): a stratified 80/20 split, fixed by SEED."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=HELD_OUT_FRACTION,
        random_state=SEED,
        stratify=digits.target,
    )
    return x_train, y_train, x_test, y_test


def build() -> Any:
    """64 raw pixels -> scaled to 0-1 -> 64 hidden units -> 10 class probabilities."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(PIXELS,), name="pixels"),
            keras.layers.Rescaling(1.0 / MAX_PIXEL),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits",
    )


def train(*, epochs: int, out: Path) -> float:
    """Train on the training part, save the model to `out`, return held-out accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_test, y_test = split()
    model = build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    # Save an uncompiled copy: serving needs the layers and weights, not the optimizer state.
    inference = build()
    inference.set_weights(model.get_weights())
    inference.save(out)
    return float(accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    accuracy = train(epochs=args.epochs, out=args.out)
    size_kb = args.out.stat().st_size / 1024
    print(f"held-out accuracy {accuracy:.4f}; saved {args.out} ({size_kb:.0f} KB)")


if __name__ == "__main__":
    main()
