"""A service whose endpoint can hold a request far longer than a stop's grace period."""

import time

from crosscloud import Service, endpoint


class Sleepy(Service):
    """Sleeps on request."""

    @endpoint
    def nap(self, seconds: float) -> str:
        """Sleep `seconds`, then answer."""
        time.sleep(seconds)
        return "rested"
