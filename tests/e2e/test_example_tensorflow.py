"""The TensorFlow example: the committed Keras digits model, served, scored on held-out digits."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from crosscloud import Client, errors
from tests.conftest import CROSSCLOUD, EXAMPLES, ROOT, Served, free_port, stop, wait_ready

# Importing TensorFlow alone takes ~6 s here, more on a busy machine.
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
DIGITS = str(EXAMPLES / "tensorflow" / "service.py") + ":Digits"
MIN_ACCURACY = 0.95  # the committed model scores ~0.98; chance is 0.10


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `crosscloud serve` of the example for this module (TensorFlow is slow to start)."""
    port = free_port()
    log = Path(tmp_path_factory.mktemp("digits")) / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CROSSCLOUD, "serve", DIGITS, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        served = Served(proc, port, log)
        wait_ready(served.url, proc, log, timeout=180)
        yield served
    finally:
        stop(proc)


def _train_module() -> ModuleType:
    """examples/tensorflow/train.py, for its fixed split (it imports TensorFlow only to train)."""
    spec = importlib.util.spec_from_file_location(
        "digits_train", EXAMPLES / "tensorflow" / "train.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _held_out() -> tuple[list[list[float]], list[int]]:
    _, _, x_test, y_test = _train_module().split()
    return x_test.tolist(), y_test.tolist()


def _accuracy(predicted: list[int], expected: list[int]) -> float:
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def test_held_out_digits_are_recognised(digits: Served) -> None:
    images, labels = _held_out()
    assert len(images) == 360  # the split training never saw
    with Client(digits.url) as client:
        predicted = client.predict(images=images)
        probabilities = client.predict_proba(images=images[:20])
    assert _accuracy(predicted, labels) >= MIN_ACCURACY
    assert all(len(row) == 10 and abs(sum(row) - 1) < 1e-3 for row in probabilities)
    assert [row.index(max(row)) for row in probabilities] == predicted[:20]

    def one(image: list[float]) -> int:
        r = httpx.post(f"{digits.url}/predict", json={"images": [image]}, timeout=60)
        r.raise_for_status()
        (digit,) = r.json()
        return int(digit)

    # The same digits one per request, concurrently (the server may merge them into batches):
    # the answers do not depend on how requests were grouped.
    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(one, images[:96])) == predicted[:96]


@pytest.mark.parametrize(
    ("images", "field", "kind"),
    [
        pytest.param([[0.0] * 63], "images[0]", "too_short", id="63-pixels"),
        pytest.param([[0.0] * 65], "images[0]", "too_long", id="65-pixels"),
        pytest.param([[0.0] * 63 + [17.0]], "images[0][63]", "less_than_equal", id="pixel-over-16"),
        pytest.param([0.5], "images[0]", "list_type", id="flat-not-nested"),
    ],
)
def test_wrong_shaped_images_get_422_naming_the_field(
    digits: Served, images: Any, field: str, kind: str
) -> None:
    r = httpx.post(f"{digits.url}/predict", json={"images": [*images, [0.0] * 64]})
    assert r.status_code == 422
    # Exactly the bad image is named; the good one sent with it is not.
    assert {(d["field"], d["type"]) for d in r.json()["detail"]} == {(field, kind)}
    with Client(digits.url) as client, pytest.raises(errors.ValidationFailed) as caught:
        client.predict(images=images)
    assert caught.value.status == 422
