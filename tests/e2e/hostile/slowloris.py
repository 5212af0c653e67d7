"""A slowloris attacker for test_limits.py, run as its own process so that its work does
not share the measuring client's interpreter. Each `open` line on stdin opens N
connections to 127.0.0.1:PORT and sends half a request head on each, then waits (prints
`open`); `close` closes them (prints `closed`). Ends when stdin closes.
Run: `python slowloris.py PORT N`.
"""

from __future__ import annotations

import resource
import socket
import sys


def main(port: int, count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 64)), hard))
    socks: list[socket.socket] = []
    for line in sys.stdin:
        if line.strip() == "open":
            for i in range(count):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(b"GET /open/slowloris-%d HTTP/1.1\r\nHost: open.test\r\n" % i)
                socks.append(sock)
        else:
            for sock in socks:
                sock.close()
            socks.clear()
        print("open" if socks else "closed", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
