"""One exception tree for crosscloud.

User errors (bad manifests, flags, requests) exit 2 on the CLI and become 4xx over HTTP;
transient errors say whether and when to retry; permanent errors do not retry.
"""

from __future__ import annotations

from dataclasses import dataclass


class CrossCloudError(Exception):
    """Base of every error crosscloud raises on purpose."""

    exit_code = 1
    http_status = 500


class UserError(CrossCloudError):
    """The user asked for something invalid; the message says what and how to fix it."""

    exit_code = 2
    http_status = 400


class ServiceDefinitionError(UserError):
    """A Service class, endpoint or Resources value is not valid."""


class ServiceLoadError(UserError):
    """A `path.py[:Class]` or `module:Class` source could not be loaded."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in an input file: where it is, which field, and what is wrong."""

    line: int
    column: int
    path: str
    message: str
    file: str = ""

    def __str__(self) -> str:
        where = (
            f"{self.file}:{self.line}:{self.column}" if self.file else f"{self.line}:{self.column}"
        )
        field = f" {self.path}:" if self.path else ""
        return f"{where}{field} {self.message}"


class ManifestError(UserError):
    """A manifest is invalid; carries every problem found, sorted by position."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TransientError(CrossCloudError):
    """Worth retrying after `delay` seconds (kopf's TemporaryError)."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(CrossCloudError):
    """Retrying will not help."""


class StateDamaged(PermanentError):
    """The state database is corrupt, or was deleted or replaced under a running control
    plane: nothing recorded in it can be trusted or acted on until the user decides."""


class StateCorrupt(StateDamaged):
    """The state database file is not a valid database any more."""


class StateVanished(StateDamaged):
    """The state database file was deleted or replaced while its deployments may run."""


class NotLeader(CrossCloudError):
    """This control plane does not hold the leader lease (a standby, or it lost the lease):
    it serves reads and refuses writes; the message names the leader when one is known."""

    http_status = 409


class TargetError(TransientError):
    """A deployment target (local processes, a cluster) failed to do what was asked."""


class HTTPError(CrossCloudError):
    """An HTTP answer with an error status, as the client sees it."""

    def __init__(self, status: int, error: str, detail: object = None) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        suffix = f": {detail}" if detail not in (None, "") else ""
        super().__init__(f"HTTP {status} {error}{suffix}")


class BadRequest(HTTPError):
    """400: the body is not valid JSON or a parameter is malformed."""


class Unauthorized(HTTPError):
    """401: a missing or wrong bearer token."""


class Forbidden(HTTPError):
    """403: the token is valid but not for this resource."""


class NotFound(HTTPError):
    """404: no such endpoint."""


class PayloadTooLarge(HTTPError):
    """413: the request body is over the server's limit."""


class ValidationFailed(HTTPError):
    """422: the body does not match the endpoint's schema."""


class InternalServerError(HTTPError):
    """500: the handler raised; the detail says what, the traceback is in the server log."""


class ServiceUnavailable(HTTPError):
    """503: not ready yet, draining, or overloaded."""


class GatewayTimeout(HTTPError):
    """504: the handler ran past its timeout."""


_BY_STATUS: dict[int, type[HTTPError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    422: ValidationFailed,
    500: InternalServerError,
    503: ServiceUnavailable,
    504: GatewayTimeout,
}


def http_error(status: int, error: str, detail: object = None) -> HTTPError:
    """The most specific HTTPError subclass for a status code."""
    return _BY_STATUS.get(status, HTTPError)(status, error, detail)
