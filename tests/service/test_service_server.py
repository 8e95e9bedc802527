"""The real server: ``y90dose serve`` in a subprocess keeps a plan across a restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from service_server import command_env, running_server


@pytest.mark.slow
def test_plan_survives_restart(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "server-data"
    with running_server(data_dir, command_env(db_url)) as server:
        pass
    first_start = server.stderr
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
    with running_server(data_dir, command_env(db_url), log_level="info") as server:
        base = server.base
        response = httpx.post(f"{base}/v1/plans", json=plan_body, headers=headers)
        assert response.status_code == 201, response.text
        plan = response.json()
        bad = httpx.post(f"{base}/v1/calculations/mird", json={"lsf": 2}, headers=headers)
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
    logs = server.stderr
    assert f"plan.create plan {plan['id']} by key admin" in logs  # the audit log line
    assert "MRN-1" not in logs  # never the patient reference
    with running_server(data_dir, command_env(db_url)) as server:
        again = httpx.get(f"{server.base}/v1/plans/{plan['id']}", headers=headers)
        assert again.status_code == 200
        assert again.json() == plan
