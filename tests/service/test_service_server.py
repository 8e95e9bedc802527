"""The real server: ``y90dose serve`` in a subprocess keeps a plan across a restart."""

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
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("Y90DOSE_")}
    env["Y90DOSE_DATABASE_URL"] = db_url
    return env


@contextmanager
def running_server(
    data_dir: Path, db_url: str, log_level: str = "warning"
) -> Iterator[tuple[str, str]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "y90dose.cli.main",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            log_level,
        ],
        env=command_env(db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base, ""
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        running_server.last_stderr = stderr  # type: ignore[attr-defined]


@pytest.mark.slow
def test_plan_survives_restart(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "server-data"
    with running_server(data_dir, db_url) as (base, _):
        pass
    first_start = running_server.last_stderr  # type: ignore[attr-defined]
    assert "no API key exists yet" in first_start
    assert "y90dose keys create --name admin --role approver" in first_start
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "y90dose.cli.main",
            "keys",
            "create",
            "--name",
            "admin",
            "--role",
            "approver",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
        env=command_env(db_url),
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    plan_body = {
        "patient_ref": "MRN-1",
        "treatment_date": "2026-12-01",
        "product": "glass",
        "delivery": "lobar",
        "model": "mird",
        "inputs": {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08},
    }
    with running_server(data_dir, db_url, log_level="info") as (base, _):
        response = httpx.post(f"{base}/v1/plans", json=plan_body, headers=headers)
        assert response.status_code == 201, response.text
        plan = response.json()
        bad = httpx.post(f"{base}/v1/calculations/mird", json={"lsf": 2}, headers=headers)
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
    logs = running_server.last_stderr  # type: ignore[attr-defined]
    assert f"plan.create plan {plan['id']} by key admin" in logs  # the audit log line
    assert "MRN-1" not in logs  # never the patient reference
    with running_server(data_dir, db_url) as (base, _):
        again = httpx.get(f"{base}/v1/plans/{plan['id']}", headers=headers)
        assert again.status_code == 200
        assert again.json() == plan
