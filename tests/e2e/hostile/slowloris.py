"""A slowloris attacker for test_limits.py, run as its own process so that its work does
not share the measuring client's interpreter. Each `open` line on stdin opens N
connections to 127.0.0.1:PORT and sends half a request head on each (then prints
`open`); `close` closes them (then prints `closed`). While open, each gets one more
header line every 5 s, the sends spread evenly. Ends when stdin closes. Run: `python slowloris.py PORT N`.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import sys
import threading

DRIP = 5.0


def main(port: int, count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 64)), hard))
    socks: list[socket.socket] = []
    lock = threading.Lock()
    stop = threading.Event()

    def drip() -> None:
        # One line per connection every DRIP seconds, spread out (real slowloris clients
        # are not in step): a steady trickle of small reads, no burst.
        n = 0
        while not stop.wait(DRIP / max(1, count)):
            with lock:
                if socks:
                    n += 1
                    with contextlib.suppress(OSError):
                        socks[n % len(socks)].send(b"X-Slow-%d: 1\r\n" % n)

    threading.Thread(target=drip, daemon=True).start()
    for line in sys.stdin:
        with lock:
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
    stop.set()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
