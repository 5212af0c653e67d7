"""Run a ServiceApp with uvicorn (uvloop + httptools) on a socket bound here, so a busy
port is an error rather than a silent move to another port; SIGTERM drains."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import NoReturn

import uvicorn
from uvicorn.supervisors.watchfilesreload import WatchFilesReload
from watchfiles import watch

from crosscloud.adapters import listen
from crosscloud.adapters.security import tls as tlsmod
from crosscloud.runtime import idle_tls
from crosscloud.runtime.app import DEFAULT_MAX_BODY, ServiceApp
from crosscloud.sdk import loader

log = logging.getLogger("crosscloud.runtime")
SETUP_FAILED_EXIT = 3


def bind(host: str, port: int) -> socket.socket:
    """A listening socket that a forked reload worker may inherit."""
    sock = listen.bind(host, port)
    sock.set_inheritable(True)
    return sock


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app to answer 503 as soon as SIGTERM arrives."""

    def __init__(self, config: uvicorn.Config, app: ServiceApp) -> None:
        super().__init__(config)
        self.service_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service_app.draining = True
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # A drained SIGTERM is a clean stop: exit 0 instead of uvicorn re-raising it.
            self._captured_signals.remove(sig)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's drain, with idle TLS connections closed without waiting on a peer
        that does not read (see idle_tls); in-flight requests still finish."""
        closer = asyncio.create_task(idle_tls.close_unanswered(self.server_state.connections))
        try:
            await super().shutdown(sockets)
        finally:
            closer.cancel()


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(
    source: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body_size: int = DEFAULT_MAX_BODY,
    threads: int | None = None,
    grace: float = 30.0,
    access_log: bool = False,
    log_level: str = "info",
    tls: tlsmod.TlsFiles | None = None,
) -> int:
    """Serve `source` until SIGTERM/SIGINT; returns the process exit code. With `tls`,
    only TLS, and only to clients whose certificate the CA in `tls.ca` signed; the files
    are read again whenever they change (renewal), without dropping a connection."""
    configure_logging(log_level)
    definition = loader.load(source)
    reloading = None if tls is None else tlsmod.Reloading(tls, server=True).start()
    sock = bind(host, port)
    fatal: list[BaseException] = []
    server: _DrainingServer | None = None

    def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        if server is not None:
            server.should_exit = True

    app = ServiceApp(
        definition, token=token, max_body_size=max_body_size, threads=threads, on_fatal=on_fatal
    )
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=access_log,
        log_config=None,
        log_level=log_level,
        server_header=False,
        timeout_graceful_shutdown=int(grace),
    )
    if reloading is not None:
        config.load()  # then the listener gets the context that follows the files
        config.ssl = reloading.base
    server = _DrainingServer(config, app)
    scheme = "http" if tls is None else "https (client certificates required)"
    log.info("serving %s on %s://%s:%d (pid %d)", definition.name, scheme, host, port, os.getpid())
    server.run(sockets=[sock])
    return SETUP_FAILED_EXIT if fatal else 0


def exit_promptly(code: int) -> NoReturn:
    """End the process as the interpreter would, less the teardown of every module: with
    torch imported that teardown alone took 1.5 to 15 s after the server had finished (on
    2 busy cores), and `crosscloud down` waited for it. As multiprocessing's children end:
    threads joined (and their atexit hooks run), atexit handlers, logs and standard
    streams flushed, then `os._exit`."""
    getattr(threading, "_shutdown")()  # noqa: B009 - private; what Py_Finalize does first
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(code)


def app_from_env() -> ServiceApp:
    """Factory for `--reload`: uvicorn re-imports the service in a fresh worker each time."""
    configure_logging(os.environ.get("CROSSCLOUD_LOG_LEVEL", "info"))
    definition = loader.load(os.environ["CROSSCLOUD_SOURCE"])
    return ServiceApp(definition, token=os.environ.get("CROSSCLOUD_TOKEN") or None)


class _Reloader(WatchFilesReload):
    """uvicorn's watchfiles reloader, but watching before the worker starts.

    uvicorn starts watching 0.25 s after it spawns the worker, and a worker of a small service
    is ready sooner than that: a save in between was never seen (CI caught it). Here the
    inotify watches exist before the first worker does, and stay across restarts.
    """

    def __init__(self, config: uvicorn.Config, server: uvicorn.Server, sock: socket.socket):
        super().__init__(config, target=server.run, sockets=[sock])
        self.watcher = watch(
            *self.reload_dirs,
            watch_filter=None,  # uvicorn's FileFilter picks the files that count
            stop_event=self.should_exit,
            rust_timeout=100,  # so that the priming call below returns at once
            yield_on_timeout=True,
            ignore_permission_denied=True,
        )

    def startup(self) -> None:
        next(self.watcher)  # sets the watches up now, before the worker can answer
        super().startup()


def serve_with_reload(
    source: str, *, host: str, port: int, token: str | None, log_level: str
) -> None:
    """Serve `source` in a worker process that is replaced whenever a .py file under the
    service's folder (or the working directory, for `module:Class`) changes."""
    configure_logging(log_level)
    sock = bind(host, port)  # a busy port is an error before uvicorn picks anything
    os.environ["CROSSCLOUD_SOURCE"] = source
    os.environ["CROSSCLOUD_LOG_LEVEL"] = log_level
    if token:
        os.environ["CROSSCLOUD_TOKEN"] = token
    target = source.partition(":")[0]
    folder = os.path.dirname(os.path.abspath(target)) if target.endswith(".py") else os.getcwd()
    config = uvicorn.Config(
        "crosscloud.runtime.server:app_from_env",
        factory=True,
        reload=True,
        reload_dirs=[folder],
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        server_header=False,
    )
    log.info(
        "serving %s on http://%s:%d, restarting on changes under %s", source, host, port, folder
    )
    _Reloader(config, uvicorn.Server(config), sock).run()
