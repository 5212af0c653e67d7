"""Listening sockets bound here, so a busy port is a clear error rather than a silent move
to another port (the replica runtime and the gateway both listen through this)."""

from __future__ import annotations

import errno
import resource
import socket

from crosscloud import errors


def bind(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening socket on host:port; UserError when the port is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise errors.UserError(f"port {port} on {host} is already in use") from None
        raise errors.UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    return sock


def raise_fd_limit() -> int:
    """Raise this process's open-file soft limit to its hard limit (a proxy holds two
    descriptors per request in flight and one per idle client); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # a container may forbid it: keep what we have
    return soft
