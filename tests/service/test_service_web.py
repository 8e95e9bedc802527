"""The web pages and the plan report route, through the app (TestClient).

The browser tests (tests/web) drive the same pages in Chromium; these check the
security rules one by one: the session cookie, CSRF token and origin on every POST,
a revoked key ending its session, and the report route's refusals.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys, add_key, assert_problem

from y90dose_service.security import revoke_key

BASE = "http://testserver"
ORIGIN = {"origin": BASE}
PLAN = {
    "patient_ref": "MRN-7",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08},
}


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; the page's CSRF token."""
    token = _token(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"csrf_token": token, "api_key": key},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    assert key not in cookie
    return _token(client.get("/plans").text)


@pytest.fixture
def plan_id(client: TestClient, keys: Keys) -> str:
    response = client.post("/v1/plans", json=PLAN, headers=keys.planner)
    assert response.status_code == 201
    plan: str = response.json()["id"]
    return plan


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/plans", "/plans/new", "/validation"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/signin")


def test_signin_refuses_unknown_key_and_a_form_from_elsewhere(
    client: TestClient, keys: Keys, app: FastAPI
) -> None:
    token = _token(client.get("/signin").text)
    bad = client.post("/signin", data={"csrf_token": token, "api_key": "y90_nope"}, headers=ORIGIN)
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    key = add_key(app, "web-user", "viewer")
    no_token = client.post("/signin", data={"api_key": key}, headers=ORIGIN)
    assert no_token.status_code == 403
    other = client.post(
        "/signin",
        data={"csrf_token": token, "api_key": key},
        headers={"origin": "https://evil.example"},
    )
    assert other.status_code == 403
    assert "y90dose_session" not in client.cookies


def test_every_post_needs_the_token_and_this_origin(
    client: TestClient, app: FastAPI, plan_id: str
) -> None:
    csrf = sign_in(client, add_key(app, "web-approver", "approver"))
    approve = f"/plans/{plan_id}/approve"
    assert client.post(approve, data={"version": "1"}, headers=ORIGIN).status_code == 403
    wrong = {"version": "1", "csrf_token": csrf[:-1] + "x"}
    assert client.post(approve, data=wrong, headers=ORIGIN).status_code == 403
    good = {"version": "1", "csrf_token": csrf}
    evil = client.post(approve, data=good, headers={"origin": "https://evil.example"})
    assert evil.status_code == 403 and "Nothing was changed" in evil.text
    cross = client.post(approve, data=good, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    assert client.get(f"/v1/plans/{plan_id}", headers=_bearer(app)).json()["approvals"] == []
    done = client.post(approve, data=good, headers=ORIGIN, follow_redirects=False)
    assert done.status_code == 303
    assert len(client.get(f"/v1/plans/{plan_id}", headers=_bearer(app)).json()["approvals"]) == 1
    # the header works too (htmx sends it)
    preview = client.post(
        "/plans/preview",
        data={"model": "mird", "product": "glass", "delivery": "whole"},
        headers={**ORIGIN, "x-csrf-token": csrf},
    )
    assert preview.status_code == 200


def _bearer(app: FastAPI) -> dict[str, str]:
    key = add_key(app, f"reader-{uuid.uuid4().hex[:12]}", "viewer")
    return {"Authorization": f"Bearer {key}"}


def test_revoked_key_ends_the_session(client: TestClient, app: FastAPI) -> None:
    sign_in(client, add_key(app, "soon-revoked", "planner"))
    assert client.get("/plans").status_code == 200
    with app.state.sessionmaker() as session:
        revoke_key(session, "soon-revoked")
        session.commit()
    response = client.get("/plans", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/signin")


def test_sign_out_ends_the_session_on_the_server(client: TestClient, app: FastAPI) -> None:
    csrf = sign_in(client, add_key(app, "leaving", "viewer"))
    cookie = client.cookies["y90dose_session"]
    client.post("/signout", data={"csrf_token": csrf}, headers=ORIGIN)
    client.cookies.set("y90dose_session", cookie)  # a copied cookie is no use afterwards
    assert client.get("/plans", follow_redirects=False).status_code == 303


def test_preview_shows_the_apis_messages_and_findings(client: TestClient, app: FastAPI) -> None:
    csrf = sign_in(client, add_key(app, "typist", "viewer"))
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "model": "partition",
        "product": "glass",
        "delivery": "whole",
        "normal_dose_gy": "40",
        "normal_volume_ml": "900",
        "lsf": "0.1",
        "tumor_volume_ml": ["100", "50"],
        "tn_ratio": ["4"],
    }
    response = client.post("/plans/preview", data=form, headers=ORIGIN)
    # a tumour row without its ratio is refused, never dropped; in the API's own words
    api = client.post(
        "/v1/calculations/partition",
        json={
            "normal_dose_gy": 40,
            "normal_volume_ml": 900,
            "lsf": 0.1,
            "tumor_volume_ml": [100, 50],
            "tn_ratio": [4, ""],
        },
        headers=_bearer(app),
    )
    assert api.status_code == 422
    error = api.json()["errors"][0]
    assert error["field"] == "tn_ratio"
    shown = re.search(r'id="err-tn_ratio"[^>]*>([^<]*)<', response.text)
    assert shown is not None
    assert shown.group(1).startswith("inputs.tn_ratio: &#39;&#39; is not allowed")
    assert error["allowed"].replace("<", "&lt;") in shown.group(1)
    form["tn_ratio"] = ["4", "2.5"]
    ok = client.post("/plans/preview", data=form, headers=ORIGIN)
    # partition by hand (physics.md 4.3): tumour doses TN x D_N = 160 and 100 Gy
    assert "160 Gy" in ok.text and "100 Gy" in ok.text


def test_viewer_sees_why_approval_is_refused(
    client: TestClient, app: FastAPI, plan_id: str
) -> None:
    csrf = sign_in(client, add_key(app, "onlooker", "viewer"))
    page = client.get(f"/plans/{plan_id}").text
    assert "approving needs the approver role" in page
    refused = client.post(
        f"/plans/{plan_id}/approve", data={"version": "1", "csrf_token": csrf}, headers=ORIGIN
    )
    assert refused.status_code == 403
    assert "Approval refused: key &#39;onlooker&#39; has role &#39;viewer&#39;" in refused.text


def test_report_route(client: TestClient, keys: Keys, plan_id: str) -> None:
    pdf = client.get(f"/v1/plans/{plan_id}/report", headers=keys.viewer)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content[:5] == b"%PDF-"
    assert f'filename="plan-{plan_id}-v1.pdf"' in pdf.headers["content-disposition"]
    assert "MRN-7" not in pdf.headers["content-disposition"]
    body = assert_problem(
        client.get(f"/v1/plans/{plan_id}/report?format=dicom", headers=keys.viewer), 422
    )
    assert "linked to no study" in body["detail"]
    assert_problem(
        client.get(f"/v1/plans/{plan_id}/report?version=2", headers=keys.viewer), 422, "version"
    )
    assert_problem(client.get(f"/v1/plans/{plan_id}/report?format=docx", headers=keys.viewer), 422)
    assert_problem(client.get("/v1/plans/nope/report", headers=keys.viewer), 404)
    assert_problem(client.get(f"/v1/plans/{plan_id}/report"), 401)


def test_viewer_cannot_store_a_plan_from_the_form(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    """The page calls the API's create_plan directly, so the route's PlannerDep does not
    run: the page checks the role itself. A viewer's form is refused and nothing stored."""
    csrf = sign_in(client, add_key(app, "glancer", "viewer"))
    form = {
        "csrf_token": csrf,
        "model": "mird",
        "product": "glass",
        "delivery": "lobar",
        "patient_ref": "MRN-VIEWER",
        "treatment_date": "2026-12-01",
        "target_dose_gy": "120",
        "perfused_volume_ml": "1165",
        "lsf": "0.08",
    }
    refused = client.post("/plans/new", data=form, headers=ORIGIN, follow_redirects=False)
    assert refused.status_code == 403, refused.text
    assert "has role &#39;viewer&#39;" in refused.text
    stored = client.get("/v1/plans?patient_ref=MRN-VIEWER", headers=keys.viewer).json()
    assert stored["items"] == []
