"""Progress reporting of long pipeline steps: ``progress(fraction, stage)``.

The same signature as the service's dose-job workers (``fraction`` in 0..1, ``stage`` a
short text), so the CLI's terminal bar and the service's database updates plug into
the pipeline alike.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[float, str], None]


def no_progress(fraction: float, stage: str) -> None:
    """A progress callback that does nothing."""


class Stages:
    """Maps the pipeline's steps onto 0..1 and forwards them to a callback.

    Examples
    --------
    >>> seen = []
    >>> stages = Stages(lambda f, s: seen.append((round(f, 2), s)))
    >>> stages.report(0.5, "dose")
    >>> seen
    [(0.5, 'dose')]
    """

    def __init__(self, callback: ProgressFn | None) -> None:
        self._callback = callback or no_progress

    def report(self, fraction: float, stage: str) -> None:
        """Forward ``fraction`` (clipped to 0..1) and ``stage``."""
        self._callback(min(max(float(fraction), 0.0), 1.0), stage)
