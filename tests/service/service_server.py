"""A real ``y90dose serve`` process for the server tests (a uniquely named helper module).

Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
HERE = Path(__file__).resolve().parent
CLI = (sys.executable, "-m", "y90dose.cli.main")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command_env(db_url: str, **settings: str) -> dict[str, str]:
    """This environment without ``Y90DOSE_*``, then the database URL and ``settings``
    (``Y90DOSE_<NAME>``); the test helpers' folder on PYTHONPATH (substitute job runners)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("Y90DOSE_")}
    env["Y90DOSE_DATABASE_URL"] = db_url
    env.update({f"Y90DOSE_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    return env


def create_key(data_dir: Path, env: dict[str, str], name: str, role: str) -> dict[str, str]:
    """``y90dose keys create``; the key's Authorization header."""
    created = subprocess.run(
        [*CLI, "keys", "create", "--name", name, "--role", role, "--json", "--data-dir", data_dir],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}


@dataclass
class Server:
    """A started server: its base URL and process; ``stderr`` is filled when it stopped."""

    base: str
    process: subprocess.Popen[str]
    stderr: str = field(default="")


def start(data_dir: Path, env: dict[str, str], *args: str, log_level: str = "warning") -> Server:
    """Start ``y90dose serve`` and wait until ``/healthz`` answers 200."""
    port = free_port()
    process = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--port",
            str(port),
            "--data-dir",
            data_dir,
            "--log-level",
            log_level,
            *args,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[1])
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return Server(base, process)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("server did not start: " + process.communicate()[1])
        time.sleep(0.2)


def stop(server: Server, sig: int = signal.SIGINT) -> float:
    """Send ``sig``; seconds until the process ended (killed after STOP_TIMEOUT_S)."""
    began = time.monotonic()
    if server.process.poll() is None:
        server.process.send_signal(sig)
    try:
        _, server.stderr = server.process.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        _, server.stderr = server.process.communicate()
        return float("inf")
    return time.monotonic() - began


@contextmanager
def running_server(
    data_dir: Path, env: dict[str, str], *args: str, log_level: str = "warning"
) -> Iterator[Server]:
    """A server for the ``with`` block; stopped (SIGINT) at its end, even on failure."""
    server = start(data_dir, env, *args, log_level=log_level)
    try:
        yield server
    finally:
        stop(server)
