"""Where crosscloud keeps its files: the state directory ($CROSSCLOUD_HOME, ~/.crosscloud)."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CROSSCLOUD_HOME"
STATE_URL_ENV = "CROSSCLOUD_STATE_URL"


def home() -> Path:
    """The state directory: $CROSSCLOUD_HOME, else ~/.crosscloud (not created here)."""
    configured = os.environ.get(HOME_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".crosscloud"


def logs_dir() -> Path:
    """Replica log files live under here."""
    return home() / "logs"


def ca_dir() -> Path:
    """The certificate authority's roots and keys (0700; see adapters/security/ca.py)."""
    return home() / "ca"


def tls_dir() -> Path:
    """Issued certificates and the trust bundle, as processes read them (0700)."""
    return home() / "tls"
