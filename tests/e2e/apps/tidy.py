"""A service whose module teardown is slow (as torch's is), with an atexit handler and a
thread still working when SIGTERM arrives; both leave a file in $CROSSCLOUD_TEST_MARKS."""

from __future__ import annotations

import atexit
import os
import pathlib
import threading
import time

from crosscloud import Service, endpoint

MARKS = pathlib.Path(os.environ["CROSSCLOUD_TEST_MARKS"])


class SlowTeardown:
    def __del__(self) -> None:  # the interpreter's teardown of a heavy module, condensed
        time.sleep(60)


KEPT = SlowTeardown()
atexit.register(lambda: (MARKS / "atexit").write_text("ran"))


class Tidy(Service):
    @endpoint
    def later(self) -> str:
        def work() -> None:
            time.sleep(1)
            (MARKS / "thread").write_text("done")

        threading.Thread(target=work).start()  # not a daemon: it finishes before the exit
        return "started"
