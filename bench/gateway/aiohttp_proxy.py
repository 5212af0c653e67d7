"""A pooled aiohttp reverse proxy, round robin over the backends given on the command
line (the "aiohttp" contender; runs in bench/.venvs/aiohttp).

    python aiohttp_proxy.py PORT BACKEND_PORT [BACKEND_PORT ...]
"""

from __future__ import annotations

import itertools
import sys

import aiohttp
from aiohttp import web

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def main() -> None:
    port, backends = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
    targets = itertools.cycle([f"http://127.0.0.1:{p}" for p in backends])
    session: dict[str, aiohttp.ClientSession] = {}

    async def start(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        session["s"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def stop(app: web.Application) -> None:
        await session["s"].close()

    async def proxy(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        body = await request.read()
        url = next(targets) + request.path_qs
        async with session["s"].request(request.method, url, headers=headers, data=body) as r:
            payload = await r.read()
            out = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
            return web.Response(body=payload, status=r.status, headers=out)

    try:  # the same event loop as the other Python contenders
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/{tail:.*}", proxy)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
