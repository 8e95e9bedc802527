"""Fixtures of the browser tests (imported by each browser test module: a conftest here would
clash with the service tests' conftest for mypy): headless Debian Chromium through Playwright,
and a real ``y90dose serve`` process with a planner and an approver key."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(HERE), str(HERE.parent / "service")) if p not in sys.path]

from service_server import command_env, start, stop  # noqa: E402
from web_helpers import CHROMIUM, CHROMIUM_ARGS, WebServer, _key, missing  # noqa: E402


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
