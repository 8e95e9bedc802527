"""API keys: authentication (401), roles (403), hashing, revocation and the keys CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys, add_key, assert_problem
from sqlalchemy import select

from y90dose.cli.main import main as cli_main
from y90dose_service.models import ApiKey
from y90dose_service.security import Role, hash_key

MIRD = {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08}
PLAN = {
    "patient_ref": "P",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "whole",
    "model": "mird",
    "inputs": MIRD,
}

PROTECTED = [
    ("post", "/v1/calculations/mird"),
    ("get", "/v1/plans"),
    ("post", "/v1/plans"),
    ("get", "/v1/plans/x"),
    ("post", "/v1/plans/x/approve"),
    ("post", "/v1/studies"),
    ("get", "/v1/dose-jobs"),
    ("post", "/v1/dose-jobs"),
    ("get", "/v1/dose-jobs/x/report"),
    ("get", "/v1/plans/x/report"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_no_key_is_401(client: TestClient, method: str, url: str) -> None:
    response = client.request(method, url, json={})
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in body["detail"]


def test_unknown_key_is_401(client: TestClient) -> None:
    assert_problem(client.get("/v1/plans", headers={"Authorization": "Bearer y90_nope"}), 401)
    assert_problem(client.get("/v1/plans", headers={"X-API-Key": "y90_nope"}), 401)


def test_x_api_key_and_bearer_both_work(app: FastAPI, client: TestClient) -> None:
    key = add_key(app, "k", "viewer")
    assert client.get("/v1/plans", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/v1/plans", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_roles(client: TestClient, keys: Keys) -> None:
    assert client.post("/v1/calculations/mird", json=MIRD, headers=keys.viewer).status_code == 200
    body = assert_problem(client.post("/v1/plans", json=PLAN, headers=keys.viewer), 403)
    assert "viewer" in body["detail"] and "planner" in body["detail"]
    plan = client.post("/v1/plans", json=PLAN, headers=keys.planner)
    assert plan.status_code == 201
    url = f"/v1/plans/{plan.json()['id']}/approve"
    assert_problem(client.post(url, json={"version": 1}, headers=keys.planner), 403)
    assert_problem(client.post(url, json={"version": 1}, headers=keys.viewer), 403)
    assert client.post(url, json={"version": 1}, headers=keys.approver).status_code == 201
    # an approver may also plan (roles are ordered)
    assert client.post("/v1/plans", json=PLAN, headers=keys.approver).status_code == 201


def test_role_order() -> None:
    assert Role.APPROVER.allows(Role.PLANNER) and Role.PLANNER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.PLANNER) and not Role.PLANNER.allows(Role.APPROVER)


def test_keys_stored_hashed_and_revocation(app: FastAPI, client: TestClient) -> None:
    key = add_key(app, "soon-revoked", "planner")
    with app.state.sessionmaker() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == "soon-revoked"))
        assert row is not None
        assert row.key_hash == hash_key(key) and key not in (row.key_hash, row.key_prefix)
    headers = {"X-API-Key": key}
    assert client.get("/v1/plans", headers=headers).status_code == 200
    from y90dose_service.security import revoke_key

    with app.state.sessionmaker() as session:
        revoke_key(session, "soon-revoked")
        session.commit()
    assert_problem(client.get("/v1/plans", headers=headers), 401)  # cache disabled in tests


def test_keys_cli_create_list_revoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "cli-data"
    monkeypatch.delenv("Y90DOSE_DATABASE_URL", raising=False)
    assert (
        cli_main(
            [
                "keys",
                "create",
                "--name",
                "ops",
                "--role",
                "planner",
                "--json",
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "ops" and created["role"] == "planner"
    assert created["key"].startswith("y90_") and len(created["key"]) > 40
    # the environment variable works like --data-dir
    monkeypatch.setenv("Y90DOSE_DATA_DIR", str(data_dir))
    assert cli_main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["keys"]
    assert [k["name"] for k in listed] == ["ops"]
    assert created["key"] not in json.dumps(listed)  # shown once, never again
    assert cli_main(["keys", "create", "--name", "ops", "--role", "viewer"]) == 2
    assert "--name: 'ops' is not allowed" in capsys.readouterr().err
    assert cli_main(["keys", "revoke", "ops"]) == 0
    capsys.readouterr()
    assert cli_main(["keys", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"][0]["revoked_at"] is not None
    assert cli_main(["keys", "revoke", "nobody"]) == 2
    assert os.path.exists(data_dir / "y90dose.sqlite3")


def test_demo_creates_key_and_phantom_study_once(app: FastAPI, settings: object) -> None:
    from y90dose_service.demo import prepare_demo

    first = prepare_demo(settings, app.state.sessionmaker)  # type: ignore[arg-type]
    assert first["key"] and first["key"].startswith("y90_") and first["study_id"]
    again = prepare_demo(settings, app.state.sessionmaker)  # type: ignore[arg-type]
    assert again == {"key": first["key"], "study_id": None}  # same key shown, no new study
    with TestClient(app) as client:
        headers = {"X-API-Key": first["key"]}
        study = client.get(f"/v1/studies/{first['study_id']}", headers=headers).json()
    assert study["kind"] == "nifti" and study["summary"]["dose_inputs"]["usable"] is True
    assert study["summary"]["names"]["3"] == "liver"
