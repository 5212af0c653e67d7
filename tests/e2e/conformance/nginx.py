"""Start Debian's nginx as a reverse proxy in front of given backends, for tests and
benchmarks that compare the gateway with it: a generated config in a folder of the
caller's, a free port, `daemon off` so that the process started is the one to stop.

    proxy = nginx.start(tmp_path, {"svc": 9001, "echo": 9002})
    # http://127.0.0.1:{proxy.port}/svc/rest -> http://127.0.0.1:9001/rest
    proxy.stop()

Streaming is set up to behave like the gateway's (no request or response buffering,
HTTP/1.1 with pooled keep-alive connections upstream).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_MAIN = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size {max_body};
    chunked_transfer_encoding on;
{upstreams}
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""

_UPSTREAM = """\
    upstream {name} {{
        server 127.0.0.1:{port};
        keepalive 16;
    }}
"""

#: The path after /{name}, as the client sent it: `proxy_pass http://{name}/;` would send
#: nginx's normalized URI, with %2F decoded to a slash.
_TAIL = """\
    map $request_uri $tail_{key} {{
        "~^/{name}(?<tail_{key}_m>/.*)$" $tail_{key}_m;
        default /;
    }}
"""

_LOCATION = """\
        location /{name}/ {{
            proxy_pass http://{name}$tail_{key};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
        }}
"""


@dataclass
class Nginx:
    """A running nginx started by `start`; `stop` ends that process only."""

    proc: subprocess.Popen[bytes]
    port: int
    dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def config(directory: Path, port: int, services: dict[str, int], *, max_body: str = "64m") -> str:
    """nginx.conf routing /{name}/rest to /rest of 127.0.0.1:{services[name]}."""
    # As root nginx would switch its workers to "nobody", who cannot write in `directory`.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return _MAIN.format(
        user=user,
        dir=directory,
        port=port,
        max_body=max_body,
        upstreams="".join(
            _UPSTREAM.format(name=n, port=p) + _TAIL.format(name=n, key=_key(n))
            for n, p in services.items()
        ),
        locations="".join(_LOCATION.format(name=n, key=_key(n)) for n in services),
    )


def _key(name: str) -> str:
    return name.replace("-", "_")


def start(directory: Path, services: dict[str, int], *, port: int, timeout: float = 10.0) -> Nginx:
    """nginx on 127.0.0.1:`port` in front of `services`, once it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nginx.conf").write_text(config(directory, port, services))
    args = [NGINX, "-p", str(directory), "-c", "nginx.conf", "-e", str(directory / "error.log")]
    args += ["-g", "daemon off;"]
    with (directory / "stderr.log").open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    started = Nginx(proc, port, directory)
    try:
        _wait_listening(started, timeout)
    except BaseException:
        started.stop()
        raise
    return started


def _wait_listening(proxy: Nginx, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            stderr = (proxy.dir / "stderr.log").read_text(errors="replace")
            raise RuntimeError(f"nginx exited with {proxy.proc.returncode}: {stderr}")
        try:
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx not listening on {proxy.port} after {timeout}s")
