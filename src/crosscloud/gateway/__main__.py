"""`python -m crosscloud.gateway --config FILE`: the gateway process the control plane runs."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

# A SIGHUP (the control plane's "config changed") that comes while this process is still
# starting would end it (the default action) and count as a crash: ignored until run.py
# installs its handler, which then reads the file once more.
signal.signal(signal.SIGHUP, signal.SIG_IGN)

import uvloop  # noqa: E402 - after the signal is ignored

from crosscloud import errors  # noqa: E402
from crosscloud.gateway import run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crosscloud.gateway")
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        uvloop.run(run.run(args.config, host=args.host, port=args.port))
    except errors.CrossCloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
