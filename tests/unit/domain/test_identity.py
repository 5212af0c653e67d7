"""SPIFFE IDs: naming workloads, parsing URIs, trust-domain validation."""

from __future__ import annotations

import pytest

from crosscloud.domain import identity


def test_workload_gateway_and_controlplane_ids() -> None:
    assert (
        identity.workload("td.example", "demo", "embedder") == "spiffe://td.example/demo/embedder"
    )
    assert identity.gateway("td") == "spiffe://td/gateway"
    assert identity.controlplane("td") == "spiffe://td/controlplane"


@pytest.mark.parametrize(
    ("uri", "domain", "deployment"),
    [
        ("spiffe://crosscloud.local/demo/embedder", "crosscloud.local", "demo"),
        ("spiffe://crosscloud.local/gateway", "crosscloud.local", None),
        ("https://crosscloud.local/demo/x", None, None),
        ("spiffe://Upper/demo/x", None, None),
        ("spiffe://td/", None, None),
        ("spiffe://td/a/../b", None, None),
    ],
)
def test_parse(uri: str, domain: str | None, deployment: str | None) -> None:
    found = identity.parse(uri)
    assert (found.trust_domain if found else None) == domain
    assert (found.deployment if found else None) == deployment
    if found is not None:
        assert found.uri == uri


@pytest.mark.parametrize("bad", ["", "UPPER.case", ".lead", "a..b", "sp ace"])
def test_bad_trust_domains(bad: str) -> None:
    with pytest.raises(ValueError, match="not valid"):
        identity.check_trust_domain(bad)


def test_uris_of_peercert() -> None:
    cert = {"subjectAltName": (("DNS", "x"), ("URI", "spiffe://td/a/b"))}
    assert identity.uris_of(cert) == ("spiffe://td/a/b",)
    assert identity.uris_of(None) == ()
