"""A dose-job runner that will not stop (imported in worker processes)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any


def stubborn_runner(
    study_path: Path, params: dict[str, Any], output_dir: Path, progress: Any
) -> dict[str, Any]:
    """Ignore SIGTERM and run for a minute: the service stop must not wait for it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    progress(0.1, "stubborn")
    time.sleep(60)
    return {}
