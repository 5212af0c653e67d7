"""`python -m crosscloud.controlplane`: the control plane process (started by `crosscloud up`)."""

import sys

from crosscloud.controlplane import daemon

sys.exit(daemon.main())
