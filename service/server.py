"""Run the app with uvicorn, with a stop that always ends within a deadline.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections and lets requests in flight
finish for ``shutdown_grace_seconds``; then it cancels them and the app's lifespan stops
the dose-job workers (a running job is re-queued at the next start). A request stuck in
a thread, or a worker that does not end, cannot hold the process: ``STOP_MARGIN_S``
after the grace period the process ends at once.
"""

from __future__ import annotations

import os
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn

from service.settings import ServiceSettings

STOP_MARGIN_S = 4.0
"""Time after the grace period for the lifespan's shutdown (dose-job workers get 5 s
to end after SIGTERM, but seldom need more than a moment); then ``os._exit``."""


def _exit_now(deadline_s: float) -> None:  # pragma: no cover - runs only when stuck
    print(
        f"y90dose serve: not stopped {deadline_s:g} s after the stop signal; exiting now",
        file=sys.stderr,
        flush=True,
    )
    os._exit(1)


class DeadlineServer(uvicorn.Server):
    """``uvicorn.Server`` that, at the first stop signal, arms a hard exit deadline."""

    def __init__(self, config: uvicorn.Config, deadline_s: float) -> None:
        super().__init__(config)
        self.deadline_s = deadline_s
        self.timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Arm the deadline (once), then let uvicorn stop gracefully."""
        if self.timer is None:
            self.timer = threading.Timer(self.deadline_s, _exit_now, (self.deadline_s,))
            self.timer.daemon = True
            self.timer.start()
        super().handle_exit(sig, frame)


def run(app: Any, settings: ServiceSettings, *, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` until a stop signal; the process is gone within
    ``settings.shutdown_grace_seconds + STOP_MARGIN_S`` of it.

    The uvicorn access log stays off: query strings may carry patient references.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    DeadlineServer(config, settings.shutdown_grace_seconds + STOP_MARGIN_S).run()
