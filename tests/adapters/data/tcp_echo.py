"""A TCP echo server for the link tests: `python tcp_echo.py HOST PORT`; prints `ready`."""

from __future__ import annotations

import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


if __name__ == "__main__":
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), Echo) as server:
        print("ready", flush=True)
        server.serve_forever()
