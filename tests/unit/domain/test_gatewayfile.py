"""The gateway's config file, one schema for both sides: the documented example parses,
the JSON Schema accepts what the gateway accepts and refuses what it refuses."""

from __future__ import annotations

import textwrap

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from crosscloud import errors
from crosscloud.cli import main
from crosscloud.domain import gatewayfile
from crosscloud.gateway import config as gwconfig


def _documented() -> dict[str, object]:
    """The example in the module's docstring, with a real digest for its placeholder."""
    doc = gatewayfile.__doc__ or ""
    block = doc[doc.index("\n    listen:") :]
    data = yaml.safe_load(textwrap.dedent(block).replace("<64 hex digits>", "ab" * 32))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    result = CliRunner().invoke(main.cli, ["schema", "gateway"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert isinstance(printed, dict)
    return printed


def test_the_documented_example_is_a_valid_file(schema: dict[str, object]) -> None:
    data = _documented()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)
    config = gwconfig.parse(data)
    (echo,) = config.services
    assert (echo.policy, echo.timeout, echo.per_try_timeout) == ("least-request", 30.0, 10.0)
    assert echo.split == (("v1", 90.0), ("v2", 10.0))
    assert (config.limits.max_header_bytes, config.limits.max_body_size) == (32768, 64 * 2**20)


@pytest.mark.parametrize(
    "change",
    [
        {"policy": "fastest"},
        {"retries": {"attempts": 11}},
        {"timeout": "soon"},
        {"healthcheck": {}},
        {"auth": {"tokens": [{"id": "x", "sha256": "0" * 64}]}},
    ],
)
def test_the_schema_refuses_what_the_gateway_refuses(
    schema: dict[str, object], change: dict[str, object]
) -> None:
    data = {"services": [{"name": "echo", **change}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)
    with pytest.raises(errors.UserError, match="services.0"):
        gwconfig.parse(data)


def test_written_json_keeps_only_what_was_set() -> None:
    file = gatewayfile.GatewayFile(
        listen=gatewayfile.ListenFile(host="127.0.0.1", port=8080),
        limits=gatewayfile.LimitsFile(),
        services=[gatewayfile.ServiceFile(name="echo", policy="latency")],
    )
    assert file.to_json() == {
        "listen": {"host": "127.0.0.1", "port": 8080},
        "limits": {},
        "services": [{"name": "echo", "policy": "latency"}],
    }
    assert gwconfig.parse(file.to_json()).services[0].policy == "latency"


def test_the_front_doors_tls_and_zones_are_read() -> None:
    config = gwconfig.parse(_documented())
    assert config.scheme == "https" and config.admin_port == 8081
    assert config.tls is not None
    assert (config.tls.client_certs, config.tls.handshake_timeout) == ("none", 10.0)
    assert config.services[0].residency == (("eu", ("local/a",)), ("us", ("local/b",)))
    assert config.services[0].auth is not None and config.services[0].auth[0].residency == "eu"


@pytest.mark.parametrize(
    ("tls", "says"),
    [
        ({"certFile": "a.pem"}, "listen.tls.keyFile: Field required"),
        ({"certFile": "a", "keyFile": "b", "clientCerts": "required"}, "needs clientCaFile"),
        ({"certFile": "a", "keyFile": "b", "clientCerts": "yes"}, "listen.tls.clientCerts"),
        ({"certFile": "a", "keyFile": "b", "handshakeTimeout": "0s"}, "greater than 0"),
    ],
)
def test_a_bad_tls_section_is_refused(tls: dict[str, object], says: str) -> None:
    with pytest.raises(errors.UserError, match=says):
        gwconfig.parse({"listen": {"tls": tls}})
