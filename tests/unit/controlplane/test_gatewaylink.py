"""What the control plane writes for the gateway is built from the shared schema and reads
back, through the gateway's own parser, as the manifest's traffic settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from crosscloud import errors
from crosscloud.controlplane import gatewaylink
from crosscloud.domain import gatewayfile, manifest, state, tokens
from crosscloud.gateway import config as gwconfig
from tests.certs import TestCA


def _manifest(**traffic: object) -> manifest.Manifest:
    data = {
        "apiVersion": "crosscloud.dev/v1",
        "kind": "CloudDeployment",
        "metadata": {"name": "demo"},
        "spec": {
            "services": [{"name": "echo", "source": "./service.py:Echo"}],
            "placements": [{"provider": "local", "region": "a"}],
            "traffic": traffic,
        },
    }
    return manifest.load_manifest(yaml.safe_dump(data), "crosscloud.yaml")


ENDPOINT = state.EndpointRecord(
    deployment="demo",
    service="echo",
    placement="local/a",
    url="http://127.0.0.1:9001",
    replica_id="r1",
)


def _read_back(
    spec: manifest.Manifest, found: list[tokens.TokenRecord] | None = None
) -> gwconfig.ServiceConfig:
    written = gatewaylink.service_config(spec, "echo", [ENDPOINT], api_tokens=found)
    file = gatewayfile.GatewayFile(services=[written]).to_json()
    return gwconfig.parse(file).services[0]


def test_traffic_settings_reach_the_gateway() -> None:
    spec = _manifest(
        policy="round-robin",
        timeout="12s",
        retries={"attempts": 3},
        outlierDetection={"consecutive5xxErrors": 0, "maxEjectionPercent": 50},
        failover=["local/a"],
    )
    service = _read_back(spec)
    assert service.policy == "round-robin"
    assert (service.timeout, service.per_try_timeout, service.retry.attempts) == (12.0, 3.0, 3)
    assert (service.outlier.consecutive_5xx, service.outlier.max_ejection_percent) == (1, 50.0)
    assert service.failover == ("local/a",)
    assert service.upstreams == (
        gwconfig.Upstream(id="r1", host="127.0.0.1", port=9001, placement="local/a"),
    )
    assert service.auth is None


def test_tokens_close_the_service_and_revoked_ones_keep_it_closed() -> None:
    token_id, text = tokens.new_token(b"\x01" * 6, b"a" * 32)
    record = tokens.TokenRecord(
        id=token_id,
        deployment="demo",
        name="ci",
        sha256=tokens.digest(text.encode()).hex(),
        last4=text[-4:],
        created_at=0.0,
    )
    opened = (gwconfig.TokenHash(token_id, record.sha256),)
    assert _read_back(_manifest(), [record]).auth == opened
    revoked = dataclasses.replace(record, revoked_at=1.0)
    assert _read_back(_manifest(), [revoked]).auth == ()


def test_limits_are_the_most_generous_of_the_deployments() -> None:
    assert gatewaylink.limits_config([]) is None
    tight = _manifest(limits={"maxBodySize": "1Mi", "idleTimeout": "300s"})
    loose = _manifest(limits={"maxBodySize": "256Mi", "idleTimeout": "5s"})
    limits = gatewaylink.limits_config([tight, loose])
    assert limits is not None
    assert (limits.max_body_size, limits.idle_timeout) == (256 * 2**20, 300.0)


def test_zones_and_zoned_tokens_reach_the_gateway() -> None:
    token_id, text = tokens.new_token(b"\x02" * 6, b"b" * 32)
    record = tokens.record_for(
        text, token_id=token_id, deployment="demo", name="eu", services=(), now=0.0, residency="eu"
    )
    service = _read_back(_manifest(residency={"eu": ["local/a"]}), [record])
    assert service.residency == (("eu", ("local/a",)),)
    assert service.auth == (gwconfig.TokenHash(token_id, record.sha256, residency="eu"),)


def test_tls_paths_are_made_absolute_from_the_manifest_folder(tmp_path: Path) -> None:
    assert gatewaylink.tls_config([(_manifest(), tmp_path)]) is None
    spec = _manifest(
        tls={
            "certFile": "certs/gw.pem",
            "keyFile": "/abs/key.pem",
            "clientCerts": "required",
            "clientCaFile": "ca.pem",
            "handshakeTimeout": "2s",
        }
    )
    found = gatewaylink.tls_config([(_manifest(), tmp_path), (spec, tmp_path)])
    assert found is not None
    assert found.cert_file == str(tmp_path / "certs" / "gw.pem")
    assert found.key_file == "/abs/key.pem"
    assert found.client_ca_file == str(tmp_path / "ca.pem")
    assert (found.client_certs, found.handshake_timeout) == ("required", 2.0)


def test_up_refuses_a_certificate_the_gateway_could_not_serve(tmp_path: Path) -> None:
    (tmp_path / "gw.pem").write_text("not a certificate")
    (tmp_path / "gw-key.pem").write_text("not a key")
    spec = _manifest(tls={"certFile": "gw.pem", "keyFile": "gw-key.pem"})
    with pytest.raises(
        errors.UserError, match=r"^/x/crosscloud.yaml: spec.traffic.tls: cannot use"
    ):
        gatewaylink.check_tls(spec, path="/x/crosscloud.yaml", folder=tmp_path)
    missing = _manifest(tls={"certFile": "nope.pem", "keyFile": "gw-key.pem"})
    with pytest.raises(errors.UserError, match="no such file"):
        gatewaylink.check_tls(missing, path="/x/crosscloud.yaml", folder=tmp_path)
    ca = TestCA(tmp_path / "ca")
    good = ca.server()
    fine = _manifest(tls={"certFile": str(good.cert), "keyFile": str(good.key)})
    gatewaylink.check_tls(fine, path="/x/crosscloud.yaml", folder=tmp_path)


def _llm_manifest(**service: object) -> manifest.Manifest:
    data = {
        "apiVersion": "crosscloud.dev/v1",
        "kind": "CloudDeployment",
        "metadata": {"name": "demo"},
        "spec": {
            "services": [{"name": "echo", "source": "./service.py:Echo", **service}],
            "placements": [{"provider": "local", "region": "a"}],
            "traffic": {"policy": "least-request"},
        },
    }
    return manifest.load_manifest(yaml.safe_dump(data), "crosscloud.yaml")


def test_declared_models_and_the_service_policy_reach_the_gateway() -> None:
    service = _read_back(_llm_manifest(models=["tiny-chat", "tiny-base"], policy="prefix-affinity"))
    assert service.models == ("tiny-chat", "tiny-base")
    assert service.policy == "prefix-affinity"
    assert not service.discover_models  # declared: the replicas are not asked


def test_without_models_the_gateway_asks_the_replicas() -> None:
    service = _read_back(_llm_manifest())
    assert service.models == ()
    assert service.discover_models
    assert service.policy == "least-request"  # the deployment's, no override


def test_prefix_affinity_thresholds_reach_the_gateway() -> None:
    spec = _manifest(
        policy="prefix-affinity",
        prefixAffinity={"cacheThreshold": 0.3, "balanceAbsThreshold": 32, "blocksPerReplica": 64},
    )
    service = _read_back(spec)
    assert service.policy == "prefix-affinity"
    assert (service.affinity.cache_threshold, service.affinity.balance_abs) == (0.3, 32)
    assert service.affinity.balance_rel == 1.0001  # SGLang's default, not set here
    assert service.affinity_capacity == 64
