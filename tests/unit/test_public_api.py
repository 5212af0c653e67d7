"""The public surface of `import crosscloud` is deliberate: this pins it."""

from __future__ import annotations

import pytest

import crosscloud


def test_exported_members() -> None:
    assert crosscloud.__all__ == [
        "Client",
        "CrossCloudError",
        "HTTPError",
        "Resources",
        "Service",
        "UserError",
        "__version__",
        "call",
        "endpoint",
    ]
    for name in crosscloud.__all__:
        assert getattr(crosscloud, name) is not None


def test_call_outside_a_deployment_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROSSCLOUD_SERVICE_URLS", raising=False)
    with pytest.raises(crosscloud.UserError, match="not running under `crosscloud up`"):
        crosscloud.call("tokenizer", "split", text="x")
