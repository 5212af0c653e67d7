"""The benchmark's echo handler as a BentoML service (`bentoml serve bentoml_service:Echo`)."""

from __future__ import annotations

import bentoml


# One worker like every contender; access log off as for the floor (BentoML has a switch).
@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Echo:
    """Echoes text back."""

    @bentoml.api
    async def echo(self, text: str) -> str:
        """The trivial handler every contender serves."""
        return text
