"""Substitute dose-job runners for the job-mechanics tests (imported in worker processes)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def ok_runner(
    study_path: Path, params: dict[str, Any], output_dir: Path, progress: Any
) -> dict[str, Any]:
    """Report progress, write two files, return metrics derived from the inputs."""
    progress(0.5, "halfway")
    files = sorted(p.name for p in study_path.iterdir())
    (output_dir / "metrics.json").write_text(json.dumps({"study_files": files}))
    (output_dir / "dvh").mkdir()
    (output_dir / "dvh" / "liver.csv").write_text("dose_gy,volume_fraction\n0,1\n")
    return {"activity_gbq": params["activity_gbq"], "study_files": len(files)}


def failing_runner(
    study_path: Path, params: dict[str, Any], output_dir: Path, progress: Any
) -> dict[str, Any]:
    """Fail the way a domain error would."""
    from y90dose.errors import InputError

    raise InputError("activity_gbq", params["activity_gbq"], "a test failure, on purpose")


def slow_runner(
    study_path: Path, params: dict[str, Any], output_dir: Path, progress: Any
) -> dict[str, Any]:
    """Run long enough to be interrupted."""
    for step in range(100):
        progress(step / 100, f"step {step}")
        time.sleep(0.1)
    return {}


def crash_if_asked(
    study_path: Path, params: dict[str, Any], output_dir: Path, progress: Any
) -> dict[str, Any]:
    """Kill the worker process when ``normalize_to`` is ``crash`` (as the OOM killer would)."""
    import os

    if params.get("normalize_to") == "crash":
        time.sleep(0.5)  # let the next job queue up behind this one
        os._exit(1)
    return {"ok": True}
