"""`python -m crosscloud.gateway --config FILE`: the gateway process the control plane runs."""

from __future__ import annotations

import argparse
import logging
import sys

import uvloop

from crosscloud import errors
from crosscloud.gateway import run


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
