"""The benchmark's echo handler as a crosscloud Service (`crosscloud serve cc_app.py:Echo`)."""

from __future__ import annotations

from crosscloud import Service, endpoint


class Echo(Service):
    """Echoes text back, on the event loop (async handler)."""

    @endpoint
    async def echo(self, text: str) -> str:
        """The trivial handler every contender serves."""
        return text
