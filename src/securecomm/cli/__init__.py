"""The ``securecomm`` command line: one module per area, assembled in ``app``.

``securecomm work`` is stopped with SIGTERM (a service manager, the soak benchmark). A SIGTERM that
arrives while the command is still starting -- importing the CLI, opening the store -- must stop it
cleanly too, not kill it with the signal's default action (exit status -15). A handler is therefore
installed here, before anything heavy is imported, for ``work`` only: it records the request, and
``workflow.pipeline.stop_on_sigterm`` (which ``work`` and each of its worker processes call first)
takes the record over, so the command stops before it starts any work. Only the interpreter's own
start-up (tens of milliseconds) is left uncovered.
"""

from __future__ import annotations

import signal
import sys
import threading


class _EarlySigterm:
    """A SIGTERM handler that only remembers (``requests``) until the real one is installed."""

    def __init__(self) -> None:
        self.requests: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        self.requests.append(signum)


def _catch_early_sigterm() -> None:
    # worker processes of `work --workers N` (spawned: they import this package again) get it as well
    if sys.argv[1:2] == ["work"] and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _EarlySigterm())


_catch_early_sigterm()
