"""Helpers of the browser tests (a uniquely named module: tests import from here, never
from ``conftest``): the Chromium launch, the skip-or-fail rule, keys for a server.

The browser is Debian's Chromium (``/usr/bin/chromium``) driven by Playwright for Python
on that executable (no browser download). Locally the tests skip when Chromium or
Playwright is missing; under ``CI=true`` they fail instead (``.ci/run`` installs both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICE_TESTS = Path(__file__).resolve().parents[1] / "service"
if str(SERVICE_TESTS) not in sys.path:
    sys.path.insert(0, str(SERVICE_TESTS))

from service_server import CLI, Server  # noqa: E402

CHROMIUM = Path(os.environ.get("Y90DOSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing(reason: str) -> None:
    """Skip locally; fail under CI, which must run the browser tests."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {reason} (.ci/run installs chromium and the browser extra)")
    pytest.skip(reason)


@dataclass
class WebServer:
    """A running server and one plain API key per role."""

    base: str
    keys: dict[str, str]
    server: Server


def _key(data_dir: Path, env: dict[str, str], name: str, role: str) -> str:
    created = subprocess.run(
        [*CLI, "keys", "create", "--name", name, "--role", role, "--json", "--data-dir", data_dir],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key: str = json.loads(created.stdout)["key"]
    return key
