"""Run the app with uvicorn, with a stop that always ends within a deadline.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections and lets requests in flight
finish for ``shutdown_grace_seconds``; then it cancels them and the app's lifespan stops
the dose-job workers (a running job is re-queued at the next start). A request stuck in
a thread, or a worker that does not end, cannot hold the process: ``STOP_MARGIN_S``
after the grace period the process ends at once.

A request cancelled at the end of the grace period is answered 503 (``service-stopping``,
when nothing was sent yet) with one log line, not an "Exception in ASGI application"
traceback; the cancelled requests get up to ``CANCELLED_WAIT_S`` to run their clean-up
(an upload's slot, a half-written study folder) before the process ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn

from y90dose_service.settings import ServiceSettings

logger = logging.getLogger("y90dose.service")

STOP_MARGIN_S = 4.0
"""Time after the grace period for the lifespan's shutdown (dose-job workers get 5 s
to end after SIGTERM, but seldom need more than a moment); then ``os._exit``."""

CANCELLED_WAIT_S = 1.0
"""Time the requests cancelled after the grace period get to end (within STOP_MARGIN_S)."""


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

    async def shutdown(self, sockets: Any = None) -> None:
        """uvicorn's shutdown (which cancels requests still running after the grace
        period), then a moment for the cancelled requests to end before the process does."""
        await super().shutdown(sockets)
        if self.server_state.tasks:
            await asyncio.wait(set(self.server_state.tasks), timeout=CANCELLED_WAIT_S)


class StopCancelMiddleware:
    """Turn the cancellation of a request by the stop (after the grace period) into one
    log line and, when nothing was sent yet, a 503 ``service-stopping``; uvicorn would
    log it as an "Exception in ASGI application" with a traceback."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # this request task ends here, answered if it can be
            logger.warning(
                "%s %s cancelled: the service stopped before it ended",
                scope["method"],
                scope["path"],
            )
            if not started:
                from y90dose_service.problems import problem_response

                await problem_response(
                    503, "service-stopping", "the service is stopping; retry when it is back"
                )(scope, receive, send)


def run(app: Any, settings: ServiceSettings, *, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` until a stop signal; the process is gone within
    ``settings.shutdown_grace_seconds + STOP_MARGIN_S`` of it.

    The uvicorn access log stays off: query strings may carry patient references.
    """
    config = uvicorn.Config(
        StopCancelMiddleware(app),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    DeadlineServer(config, settings.shutdown_grace_seconds + STOP_MARGIN_S).run()
