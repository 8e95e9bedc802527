"""Fixtures of the browser tests: a real ``y90dose serve`` process and Chromium.

The browser is Debian's Chromium (``/usr/bin/chromium``) driven by Playwright for Python
on that executable (no browser download). Locally the tests skip when Chromium or
Playwright is missing; under ``CI=true`` they fail instead (``.ci/run`` installs both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SERVICE_TESTS = Path(__file__).resolve().parents[1] / "service"
if str(SERVICE_TESTS) not in sys.path:
    sys.path.insert(0, str(SERVICE_TESTS))

from service_server import CLI, Server, command_env, start, stop  # noqa: E402

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


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """``y90dose serve`` on a free loopback port, SQLite in a temporary data directory."""
    data_dir = tmp_path_factory.mktemp("web") / "data"
    env = command_env(f"sqlite:///{data_dir / 'y90dose.sqlite3'}")
    keys = {
        "planner": _key(data_dir, env, "pat-planner", "planner"),
        "approver": _key(data_dir, env, "dr-approver", "approver"),
    }
    server = start(data_dir, env)
    try:
        yield WebServer(server.base, keys, server)
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system, through Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install 'y90dose[browser]')")
    if not CHROMIUM.is_file():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
