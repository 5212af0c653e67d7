"""The smallest crosscloud service: no dependencies, one endpoint."""

from crosscloud import Resources, Service, endpoint


class Echo(Service):
    """Echoes text back."""

    resources = Resources(cpu="250m", memory="128Mi")

    @endpoint
    def echo(self, text: str) -> str:
        """Return the text unchanged."""
        return text
