"""`python -m crosscloud.runtime.probe PATH --port P --tls-dir D`: a Kubernetes exec probe
for a replica that serves mutual TLS only (the kubelet's HTTPS probe has no client
certificate, so it could not pass). GETs PATH on 127.0.0.1 with the pod's own
certificate; exit 0 on 200, 1 otherwise."""

from __future__ import annotations

import argparse
import http.client
import ssl
import sys
from pathlib import Path

from crosscloud import errors
from crosscloud.adapters.security import tls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crosscloud.runtime.probe")
    parser.add_argument("path")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--tls-dir", required=True, help="holds tls.crt, tls.key and ca.crt")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    folder = Path(args.tls_dir)
    files = tls.TlsFiles(folder / "tls.crt", folder / "tls.key", folder / "ca.crt")
    try:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", args.port, context=tls.build(files, server=False), timeout=args.timeout
        )
        conn.request("GET", args.path)
        status = conn.getresponse().status
    except (OSError, ssl.SSLError, http.client.HTTPException, errors.CrossCloudError) as exc:
        print(f"probe {args.path}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
