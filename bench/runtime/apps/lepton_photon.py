"""The benchmark's echo handler as a Lepton AI Photon (leptonai 0.27.3, the last with Photons).

Run as `python lepton_photon.py PORT`: the photon is launched in this process.
"""

from __future__ import annotations

import sys

from leptonai.photon import Photon


class Echo(Photon):
    """Echoes text back."""

    @Photon.handler
    async def echo(self, text: str) -> str:
        """The trivial handler every contender serves."""
        return text


if __name__ == "__main__":
    # As shipped: launch() has no switch for uvicorn's per-request access log.
    Echo(name="echo").launch(host="127.0.0.1", port=int(sys.argv[1]))
