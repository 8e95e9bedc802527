"""Bounded concurrency with back-pressure: a request waits a bounded time for a place, or
gets 503 with ``Retry-After``; it never hangs.

:class:`CapacityLimitMiddleware` lets ``max_concurrent_requests`` requests be served at
once; up to ``max_queued_requests`` more wait (first come, first served) at most
``queue_timeout_seconds`` for a place. A request past the queue, or one that waited too
long, gets ``503 service-busy`` with ``Retry-After``. ``/healthz`` is never counted nor
queued, so it answers while the service is saturated.

Waiting happens on the event loop (no thread is held while waiting), and the app's
thread pool is sized above ``max_concurrent_requests`` (:func:`size_thread_pool`), so a
request that has its place, or the database write turn, always finds a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import anyio.to_thread

from y90dose_service.problems import ProblemError, problem_response

EXEMPT_PATHS = ("/healthz",)
"""Paths served outside the limit (liveness must answer while the service is saturated)."""

THREAD_POOL_MARGIN = 8
"""Threads beyond ``max_concurrent_requests``: key look-ups, session clean-up, start-up."""


class Capacity:
    """A counting semaphore with a bounded FIFO queue and a bounded wait.

    Not bound to an event loop (TestClient runs each app context on a loop of its own);
    used from one loop at a time.
    """

    def __init__(self, limit: int, queue_max: int) -> None:
        self.limit = limit
        self.queue_max = queue_max
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        """Requests waiting for a place now."""
        return sum(1 for w in self._waiters if not w.done())

    def try_acquire(self) -> bool:
        """Take a place if one is free and nobody waits for it (no waiting, no await)."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        return False

    async def acquire(self, timeout_s: float) -> bool:
        """Take a place, waiting at most ``timeout_s``; False when full or timed out."""
        if self.try_acquire():
            return True
        if self.queued >= self.queue_max:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a place as the wait ended: pass it on
            else:
                waiter.cancel()
                self._drop(waiter)
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True

    def release(self) -> None:
        """Give the place to the first live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place passes on; ``active`` is unchanged
                return
        self.active -= 1

    def _drop(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already handed on by release()
            self._waiters.remove(waiter)


def busy_error(detail: str, retry_after_s: int) -> ProblemError:
    """503 ``service-busy`` with ``Retry-After`` (for a route that could not get its turn)."""
    return ProblemError(503, "service-busy", detail, headers={"Retry-After": str(retry_after_s)})


class CapacityLimitMiddleware:
    """ASGI middleware applying a :class:`Capacity` to every HTTP request but ``/healthz``."""

    def __init__(
        self,
        app: Any,
        max_concurrent: int,
        max_queued: int,
        queue_timeout_s: float,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.capacity = Capacity(max_concurrent, max_queued)
        self.queue_timeout_s = queue_timeout_s
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        capacity = self.capacity
        if not capacity.try_acquire() and not await capacity.acquire(self.queue_timeout_s):
            detail = (
                f"the service is serving {self.capacity.limit} requests with "
                f"{self.capacity.queued} waiting; retry in {self.retry_after_s} s"
            )
            response = problem_response(
                503, "service-busy", detail, headers={"Retry-After": str(self.retry_after_s)}
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            capacity.release()


def size_thread_pool(max_concurrent: int) -> None:
    """Give the running loop's thread pool room for every request in service at once.

    Call from the app's lifespan (the pool belongs to the event loop).
    """
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, max_concurrent + THREAD_POOL_MARGIN)
