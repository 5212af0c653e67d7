"""`spec.traffic.tls` and `spec.traffic.residency`: HTTPS at the gateway's front door, and
the residency zones that keep a request on a named set of placements."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from crosscloud.domain.manifest import fields, rules
from crosscloud.domain.manifest.base import Model

ClientCerts = Literal["none", "optional", "required"]
#: The request header that puts a request in a zone (an API token's zone wins over it).
RESIDENCY_HEADER = "X-Crosscloud-Residency"

ZoneName = Annotated[str, AfterValidator(fields.check_dns_label)]


class FrontDoorTls(Model):
    """`traffic.tls`: the gateway serves HTTPS (only) with this certificate. Paths are
    relative to the manifest's folder."""

    cert_file: str | None = Field(
        None,
        min_length=1,
        description="PEM certificate chain, with keyFile; both left out: from the deployment's CA.",
    )
    key_file: str | None = Field(None, min_length=1, description="PEM private key of certFile.")
    client_certs: ClientCerts = Field(
        "none",
        description="Ask clients for a certificate: none, optional (checked if sent), required.",
    )
    client_ca_file: str | None = Field(
        None, min_length=1, description="PEM CA(s) that client certificates must chain to."
    )
    handshake_timeout: fields.Duration = Field(
        10.0, description="A TLS handshake not done by then is dropped (slow or garbage clients)."
    )

    @model_validator(mode="after")
    def _check(self) -> FrontDoorTls:
        rules.raise_if(rules.check_tls(self))
        return self
