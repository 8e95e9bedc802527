#!/usr/bin/env python3
"""Set-up and everyday tasks for y90dose, needing nothing but python3.

    python3 tasks.py serve   # the planning service on http://127.0.0.1:8000 (SQLite, demo phantom)
    python3 tasks.py test    # lint, type-check and the whole test suite

Each task creates ``.venv`` beside this file on first use and installs the project into
it (editable, with the service, web, report, DICOM networking, Monte Carlo, dev and
browser-test extras); later runs reinstall only when ``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
EXTRAS = "service,web,report,dicom,mc,dev,browser,batch"
STAMP = VENV / ".y90dose-installed"


def _install_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()).hexdigest()


def ensure_environment() -> None:
    """Create the virtual environment and install the project if needed."""
    if not PYTHON.exists():
        print(f"tasks: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    fingerprint = _install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("tasks: installing y90dose and its dependencies into .venv", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]"])
    STAMP.write_text(fingerprint)


def run(command: list[str], *, check: bool = True) -> int:
    """Run ``command`` in the repository root; exit on failure when ``check``."""
    code = subprocess.call(command, cwd=ROOT)
    if check and code != 0:
        print(f"tasks: {' '.join(command)} failed with exit code {code}", file=sys.stderr)
        sys.exit(code)
    return code


def task_serve(args: list[str]) -> int:
    """Start the planning service (extra arguments go to ``y90dose serve``)."""
    ensure_environment()
    return run([str(BIN / "y90dose"), "serve", "--demo", *args], check=False)


def task_test(args: list[str]) -> int:
    """Lint and format-check (ruff), type-check (mypy) and run the test suite (pytest)."""
    ensure_environment()
    run([str(BIN / "ruff"), "check", "."])
    run([str(BIN / "ruff"), "format", "--check", "."])
    run([str(BIN / "mypy"), "y90dose", "y90dose_service", "tests", "benchmarks", "tasks.py"])
    code = run([str(PYTHON), "-m", "pytest", *args], check=False)
    if code == 5:
        print("tasks: pytest collected no tests; that is a failure here", file=sys.stderr)
        return 1
    return code


TASKS = {"serve": task_serve, "test": task_test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(f"usage: python3 tasks.py {{{','.join(TASKS)}}} [arguments]", file=sys.stderr)
        return 2
    return TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
