"""`crosscloud serve SOURCE`: one replica on this machine."""

from __future__ import annotations

import click

from crosscloud.adapters import extras
from crosscloud.adapters.security import tls as tlsmod
from crosscloud.runtime import app as runtime_app
from crosscloud.runtime import server


@click.command()
@click.argument("source")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="CROSSCLOUD_TOKEN",
    default=None,
    help="Require this bearer token (or set CROSSCLOUD_TOKEN).",
)
@click.option(
    "--max-body-size",
    default=runtime_app.DEFAULT_MAX_BODY,
    show_default=True,
    type=click.IntRange(1),
    help="Largest request body in bytes (413 above).",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1),
    help="Threads for sync handlers (default: cores + 4, 4 to 32).",
)
@click.option(
    "--grace",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds in-flight requests get to finish after SIGTERM.",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option("--reload", is_flag=True, help="Restart when the service's files change.")
@click.option(
    "--tls-cert",
    default=None,
    help="Serve HTTPS only, with this certificate (PEM; may hold the key too).",
)
@click.option("--tls-key", default=None, help="The certificate's private key (PEM).")
@click.option(
    "--tls-ca",
    default=None,
    help="Require client certificates signed by these roots (PEM): mutual TLS.",
)
def serve(
    source: str,
    host: str,
    port: int,
    token: str | None,
    max_body_size: int,
    threads: int | None,
    grace: float,
    access_log: bool,
    log_level: str,
    reload: bool,
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
) -> None:
    """Serve SOURCE (path.py[:Class] or module:Class) on HOST:PORT."""
    extras.raise_if(extras.service_needs(source, label=source))
    tls = tlsmod.files_from(cert=tls_cert, key=tls_key, ca=tls_ca)
    if reload and tls is not None:
        raise click.UsageError("--reload does not serve TLS yet; leave out --tls-* or --reload")
    if reload:
        server.serve_with_reload(source, host=host, port=port, token=token, log_level=log_level)
        return
    code = server.serve(
        source,
        host=host,
        port=port,
        token=token,
        max_body_size=max_body_size,
        threads=threads,
        grace=grace,
        access_log=access_log,
        log_level=log_level,
        tls=tls,
    )
    server.exit_promptly(code)
