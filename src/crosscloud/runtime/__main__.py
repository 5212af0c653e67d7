"""`python -m crosscloud.runtime SOURCE --port P`: one replica, as the local target starts it.

The same server as `crosscloud serve`, without the CLI's command group, so a replica's start
does not import every command (Spark, Kubernetes, ...). Errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from crosscloud import errors
from crosscloud.adapters.security import tls
from crosscloud.runtime import server


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crosscloud.runtime")
    parser.add_argument("source", help="path.py[:Class] or module:Class")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--grace", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--tls-cert", help="certificate (and key, when --tls-key is left out)")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-ca", help="the roots that sign clients' certificates")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM; the token, if any, comes from CROSSCLOUD_TOKEN."""
    args = _arguments(argv)
    try:
        return server.serve(
            args.source,
            host=args.host,
            port=args.port,
            token=os.environ.get("CROSSCLOUD_TOKEN") or None,
            threads=args.threads,
            grace=args.grace,
            log_level=args.log_level,
            tls=tls.files_from(cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca),
        )
    except errors.CrossCloudError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    server.exit_promptly(main())
