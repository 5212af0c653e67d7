"""A loopback packet capture with Debian's tcpdump, for tests that must show what crosses
the wire: started before the traffic, stopped after, its raw packets returned."""

from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path


class Capture:
    """`tcpdump -i lo` of TCP traffic on `ports` into a pcap file under `folder`."""

    def __init__(self, folder: Path, ports: list[int], *, name: str = "lo") -> None:
        binary = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
        self.path = folder / f"{name}.pcap"
        self.log = folder / f"{name}.tcpdump.log"
        expression = " or ".join(f"tcp port {p}" for p in ports)
        flags = ["-i", "lo", "--immediate-mode", "-U", "-n", "-s", "0"]
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                # --immediate-mode: each packet is handed over as it arrives; without it the
                # kernel holds packets in ring blocks for up to a second, and a capture
                # stopped sooner ends with "0 packets captured" though the filter took them
                [binary, *flags, "-w", str(self.path), expression],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 15
        while b"listening on" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tcpdump did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> bytes:
        """Stop capturing; the pcap file's bytes (headers and whole packets)."""
        time.sleep(1.0)  # let the last packets reach the file
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.path.read_bytes() if self.path.exists() else b""

    def packets(self) -> list[bytes]:
        """The captured packets (link-layer frames), read from the pcap file here (tcpdump
        writes the classic format: a 24-byte file header, then a 16-byte header a packet)."""
        data = self.path.read_bytes() if self.path.exists() else b""
        if len(data) < 24:
            raise AssertionError(f"no pcap written: {self.log.read_text()}")
        order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        out, at = [], 24
        while at + 16 <= len(data):
            _, _, included, _ = struct.unpack(order + "IIII", data[at : at + 16])
            out.append(data[at + 16 : at + 16 + included])
            at += 16 + included
        return out
