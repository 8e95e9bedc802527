"""Progress of long steps on a terminal: one rewritten line on stderr, only on a TTY.

Nothing is printed when stderr is not a terminal (pipes, files, CI logs, the service),
so ``--json`` output and logs stay clean.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TextIO

BAR_WIDTH = 24


class TerminalProgress:
    """A ``progress(fraction, stage)`` callback drawing ``[#####.....]  45 % stage``.

    Parameters
    ----------
    stream
        Where to draw (default ``sys.stderr``).
    enabled
        Force on or off; by default on only when ``stream`` is a TTY.

    Examples
    --------
    >>> import io
    >>> buffer = io.StringIO()
    >>> bar = TerminalProgress(buffer, enabled=True)
    >>> bar(0.5, "dose")
    >>> "50 %" in buffer.getvalue()
    True
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self._stream, "isatty", None)
            enabled = bool(isatty()) if callable(isatty) else False
        self.enabled = enabled
        self._started = time.perf_counter()
        self._last_width = 0
        self._finished = False

    def __call__(self, fraction: float, stage: str) -> None:
        """Redraw the line; a fraction of 1 ends it with a newline."""
        if not self.enabled or self._finished:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        filled = round(fraction * BAR_WIDTH)
        elapsed = time.perf_counter() - self._started
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * fraction:3.0f} % "
            f"{stage} ({elapsed:.1f} s)"
        )
        padding = " " * max(0, self._last_width - len(line))
        self._stream.write("\r" + line + padding)
        self._last_width = len(line)
        if fraction >= 1.0:
            self._stream.write("\n")
            self._finished = True
        self._stream.flush()

    def close(self) -> None:
        """End the line if it was left open (e.g. after an error)."""
        if self.enabled and not self._finished and self._last_width:
            self._stream.write("\n")
            self._stream.flush()
        self._finished = True


@contextlib.contextmanager
def quiet_library_warnings() -> Iterator[None]:
    """Silence the Python warnings of pydicom/SimpleITK/numpy while a command runs.

    Non-conformant but readable DICOM makes pydicom warn on stderr for every odd value;
    the command's own result carries what matters, and a refusal stays one line.
    """
    with warnings.catch_warnings():
        for module in ("pydicom", "SimpleITK", "numpy", "matplotlib"):
            warnings.filterwarnings("ignore", module=module)
        yield
