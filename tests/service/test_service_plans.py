"""``/v1/plans``: versioned plans, approvals, pagination, audit, transactions.

Numbers: 120 Gy to 1165 mL (1.03 g/mL) with LSF 0.08 on glass (50 J/GBq) needs
120 x 1.19995 / (50 x 0.92) = 3.1303 GBq. With LSF 0.30 the lung (1 kg) would receive
50 x A x 0.30 with A = 120 x 1.19995 / (50 x 0.70) = 4.114 GBq, i.e. 61.7 Gy, over the
30 Gy single-treatment limit (physics.md; IFU-glass): a blocking finding.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys, add_key, assert_problem
from sqlalchemy import func, select

from y90dose_service.main import create_app
from y90dose_service.models import AuditEvent, Plan, PlanVersion

INPUTS = {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08}
PLAN = {
    "patient_ref": "MRN-0042",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": INPUTS,
}


def create(client: TestClient, keys: Keys, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/plans", json={**PLAN, **changes}, headers=keys.planner)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def count(app: FastAPI, model: Any) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_create_stores_inputs_result_findings_constants(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    current = plan["current"]
    assert plan["latest_version"] == 1 and current["version"] == 1
    assert current["result"]["activity_gbq"] == pytest.approx(120 * 1.19995 / (50 * 0.92))
    assert current["inputs"]["density_g_ml"] == 1.03  # defaults stored, reproducible
    assert current["inputs"]["delivery"] == "lobar"
    assert current["result"]["constants"]["half_life_h"] == 64.1
    assert isinstance(current["result"]["findings"], list)
    assert plan["created_by"] == current["created_by"] == "planner-key"
    again = client.get(f"/v1/plans/{plan['id']}", headers=keys.viewer)
    assert again.status_code == 200
    assert again.json() == plan


def test_dose_direction_plan(client: TestClient, keys: Keys) -> None:
    plan = create(
        client, keys, inputs={"activity_gbq": 3.0, "perfused_volume_ml": 1165.0, "lsf": 0.08}
    )
    assert plan["current"]["direction"] == "dose"
    assert plan["current"]["result"]["doses_gy"]["perfused"] == pytest.approx(
        50 * 3.0 * 0.92 / 1.19995
    )


def test_revision_is_a_new_version_and_old_one_is_kept(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    revised = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={
            "reason": "perfused volume re-segmented",
            "base_version": 1,
            "inputs": {**INPUTS, "perfused_volume_ml": 1000.0},
        },
        headers=keys.planner,
    )
    assert revised.status_code == 201, revised.text
    body = revised.json()
    assert body["latest_version"] == 2
    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert body["current"]["result"]["activity_gbq"] == pytest.approx(120 * 1.03 / (50 * 0.92))
    assert body["current"]["delivery"] == "lobar"  # kept from version 1
    assert body["current"]["note"] == "perfused volume re-segmented"
    first = client.get(f"/v1/plans/{plan['id']}/versions/1", headers=keys.viewer).json()
    assert first == plan["current"]
    assert_problem(client.get(f"/v1/plans/{plan['id']}/versions/3", headers=keys.viewer), 404)


def test_stale_revision_conflicts(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    url = f"/v1/plans/{plan['id']}/revisions"
    ok = client.post(
        url, json={"reason": "a", "base_version": 1, "inputs": INPUTS}, headers=keys.planner
    )
    assert ok.status_code == 201
    stale = client.post(
        url, json={"reason": "b", "base_version": 1, "inputs": INPUTS}, headers=keys.planner
    )
    body = assert_problem(stale, 409)
    assert body["latest_version"] == 2


def test_approve_latest_records_key_and_version(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    response = client.post(
        f"/v1/plans/{plan['id']}/approve",
        json={"version": 1, "comment": "ok"},
        headers=keys.approver,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["approved_version"] == 1
    assert body["approvals"][0]["approved_by"] == "approver-key"
    assert body["approvals"][0]["version"] == 1
    # the same key again: conflict; a second approver: recorded
    assert_problem(
        client.post(f"/v1/plans/{plan['id']}/approve", json={"version": 1}, headers=keys.approver),
        409,
    )
    second = client.post(
        f"/v1/plans/{plan['id']}/approve", json={"version": 1}, headers=keys.approver2
    )
    assert second.status_code == 201
    assert [a["approved_by"] for a in second.json()["approvals"]] == [
        "approver-key",
        "second-approver",
    ]


def test_revision_clears_approval_and_old_version_cannot_be_approved(
    client: TestClient, keys: Keys
) -> None:
    plan = create(client, keys)
    url = f"/v1/plans/{plan['id']}"
    client.post(f"{url}/approve", json={"version": 1}, headers=keys.approver)
    revised = client.post(
        f"{url}/revisions",
        json={"reason": "new LSF", "inputs": {**INPUTS, "lsf": 0.1}},
        headers=keys.planner,
    ).json()
    assert revised["approved_version"] is None
    body = assert_problem(
        client.post(f"{url}/approve", json={"version": 1}, headers=keys.approver2), 409
    )
    assert body["type"].endswith("superseded-version")
    assert_problem(
        client.post(f"{url}/approve", json={"version": 7}, headers=keys.approver), 422, "version"
    )


def test_block_finding_prevents_approval(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys, inputs={**INPUTS, "lsf": 0.30})
    assert plan["current"]["has_block"] is True
    lung_gy = plan["current"]["result"]["doses_gy"]["lung"]
    assert lung_gy == pytest.approx(50 * 0.30 * 120 * 1.19995 / (50 * 0.70))
    body = assert_problem(
        client.post(f"/v1/plans/{plan['id']}/approve", json={"version": 1}, headers=keys.approver),
        409,
    )
    assert "LUNG_DOSE_OVER_LIMIT" in body["detail"]
    assert all(f["severity"] == "block" for f in body["findings"])
    again = client.get(f"/v1/plans/{plan['id']}", headers=keys.viewer).json()
    assert again["approvals"] == []


def test_list_paginates_and_filters_by_patient(client: TestClient, keys: Keys) -> None:
    ids = [create(client, keys, patient_ref=f"P{i % 2}")["id"] for i in range(5)]
    page = client.get("/v1/plans", params={"limit": 2}, headers=keys.viewer).json()
    assert page["total"] == 5 and len(page["items"]) == 2
    rest = client.get("/v1/plans", params={"offset": 2, "limit": 10}, headers=keys.viewer).json()
    seen = [p["id"] for p in page["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids)
    p1 = client.get("/v1/plans", params={"patient_ref": "P1"}, headers=keys.viewer).json()
    assert p1["total"] == 2 and {p["patient_ref"] for p in p1["items"]} == {"P1"}
    assert_problem(client.get("/v1/plans", params={"limit": 0}, headers=keys.viewer), 422, "limit")


BAD_PLANS = [
    ({"patient_ref": ""}, "patient_ref"),
    ({"treatment_date": "01/12/2026"}, "treatment_date"),
    ({"product": "ceramic"}, "product"),
    ({"delivery": "oral"}, "delivery"),
    ({"model": "voodoo"}, "model"),
    ({"inputs": {**INPUTS, "lsf": -0.1}}, "inputs.lsf"),
    ({"inputs": {**INPUTS, "product": "resin"}}, "inputs.product"),
    ({"inputs": {"perfused_volume_ml": 1165.0, "lsf": 0.08}}, "inputs.target_dose_gy"),
    ({"inputs": "120 Gy"}, "inputs"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_PLANS)
def test_bad_plan_is_refused_and_nothing_stored(
    app: FastAPI, client: TestClient, keys: Keys, changes: dict[str, Any], field: str
) -> None:
    before = count(app, AuditEvent)
    response = client.post("/v1/plans", json={**PLAN, **changes}, headers=keys.planner)
    assert_problem(response, 422, field)
    assert count(app, Plan) == 0 and count(app, AuditEvent) == before


def test_bad_revision_and_approval_bodies(app: FastAPI, client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    url = f"/v1/plans/{plan['id']}"
    assert_problem(
        client.post(f"{url}/revisions", json={"inputs": INPUTS}, headers=keys.planner),
        422,
        "reason",
    )
    assert_problem(
        client.post(
            f"{url}/revisions",
            json={"reason": "x", "inputs": {**INPUTS, "target_dose_gy": 0}},
            headers=keys.planner,
        ),
        422,
        "inputs.target_dose_gy",
    )
    assert_problem(
        client.post(f"{url}/approve", json={"version": 0}, headers=keys.approver), 422, "version"
    )
    assert_problem(
        client.post(
            "/v1/plans/nope/revisions", json={"reason": "x", "inputs": INPUTS}, headers=keys.planner
        ),
        404,
    )
    assert_problem(
        client.post("/v1/plans/nope/approve", json={"version": 1}, headers=keys.approver), 404
    )
    assert_problem(client.get("/v1/plans/nope", headers=keys.viewer), 404)
    bad_path = assert_problem(
        client.get(f"{url}/versions/first", headers=keys.viewer), 422, "version"
    )
    assert bad_path["errors"][0]["location"] == "path"
    assert bad_path["errors"][0]["value"] == "first"
    assert count(app, PlanVersion) == 1


def test_audit_trail_and_no_patient_ref_in_logs(
    app: FastAPI, client: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    plan = create(client, keys, patient_ref="SECRET-MRN-777")
    url = f"/v1/plans/{plan['id']}"
    client.post(f"{url}/revisions", json={"reason": "r", "inputs": INPUTS}, headers=keys.planner)
    client.post(f"{url}/approve", json={"version": 2}, headers=keys.approver)
    with app.state.sessionmaker() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        trail = [(e.action, e.key_name, e.resource_id, e.detail.get("version")) for e in events]
        assert all(e.at is not None for e in events)
    assert trail == [
        ("plan.create", "planner-key", plan["id"], 1),
        ("plan.revise", "planner-key", plan["id"], 2),
        ("plan.approve", "approver-key", plan["id"], 2),
    ]
    events = client.get(
        "/v1/audit-events", params={"resource_id": plan["id"]}, headers=keys.approver
    ).json()
    assert [e["action"] for e in events["items"]] == ["plan.approve", "plan.revise", "plan.create"]
    assert events["items"][0]["key_name"] == "approver-key"
    assert_problem(client.get("/v1/audit-events", headers=keys.planner), 403)
    assert plan["id"] in caplog.text
    assert "SECRET-MRN-777" not in caplog.text
    assert all("SECRET" not in str(e) for e in trail)


def test_failure_inside_transaction_stores_nothing(
    app: FastAPI, client: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit row is the last of the three inserts: when it fails (here its detail
    cannot be stored as JSON), plan and version, already inserted on SQLite, are rolled
    back with it; the caller gets a 500 problem."""
    import y90dose_service.routers.plans as plans_router

    real = plans_router.audit.event_row

    def unstorable(*args: Any, **kwargs: Any) -> Any:
        table, values = real(*args, **kwargs)
        return table, {**values, "detail": {"not-json": object()}}

    monkeypatch.setattr(plans_router.audit, "event_row", unstorable)
    with TestClient(app, raise_server_exceptions=False) as failing:
        response = failing.post("/v1/plans", json=PLAN, headers=keys.planner)
    assert_problem(response, 500)
    assert count(app, Plan) == 0 and count(app, PlanVersion) == 0
    assert count(app, AuditEvent) == 0


def test_row_refused_by_the_database_stores_nothing(
    app: FastAPI, client: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A constraint of the database refusing the last row (the audit event without the
    key's name, NOT NULL) undoes the whole plan: 409, nothing stored, and the next plan
    is stored normally."""
    import y90dose_service.routers.plans as plans_router

    real = plans_router.audit.event_row

    def nameless(*args: Any, **kwargs: Any) -> Any:
        table, values = real(*args, **kwargs)
        return table, {**values, "key_name": None}

    with monkeypatch.context() as patch:
        patch.setattr(plans_router.audit, "event_row", nameless)
        response = client.post("/v1/plans", json=PLAN, headers=keys.planner)
    assert_problem(response, 409)
    assert count(app, Plan) == 0 and count(app, PlanVersion) == 0
    assert count(app, AuditEvent) == 0
    create(client, keys)
    assert count(app, Plan) == 1 and count(app, PlanVersion) == 1 and count(app, AuditEvent) == 1


def test_concurrent_revisions_get_distinct_versions(client: TestClient, keys: Keys) -> None:
    from concurrent.futures import ThreadPoolExecutor

    plan = create(client, keys)
    url = f"/v1/plans/{plan['id']}/revisions"

    def revise(i: int) -> int:
        body = {"reason": f"r{i}", "inputs": {**INPUTS, "perfused_volume_ml": 1000.0 + i}}
        return client.post(url, json=body, headers=keys.planner).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(revise, range(12)))
    assert codes == [201] * 12
    final = client.get(f"/v1/plans/{plan['id']}", headers=keys.viewer).json()
    assert [v["version"] for v in final["versions"]] == list(range(1, 14))
    assert final["latest_version"] == 13
    assert sorted(v["note"] for v in final["versions"][1:]) == sorted(f"r{i}" for i in range(12))


@pytest.mark.parametrize("blank", [" ", "   ", "\t \n", "\u200b", "\u200b\n\u2060 "])
def test_blank_patient_ref_and_reason_are_refused(
    app: FastAPI, client: TestClient, keys: Keys, blank: str
) -> None:
    # Issue 9, defect 6: a patient reference or a revision reason of only spaces was stored;
    # the review found a reason of one zero-width space (U+200B) still stored: one rule,
    # y90dose.validation.says_something, now refuses both.
    if blank.isprintable():
        response = client.post(
            "/v1/plans", json={**PLAN, "patient_ref": blank}, headers=keys.planner
        )
        problem = assert_problem(response, 422, "patient_ref")
        assert "visible character" in problem["errors"][0]["allowed"]
    plan = create(client, keys)
    revision = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={"reason": blank, "inputs": INPUTS},
        headers=keys.planner,
    )
    assert_problem(revision, 422, "reason")
    assert count(app, PlanVersion) == 1


def test_segments_are_stored_versioned_and_checked(client: TestClient, keys: Keys) -> None:
    # Issue 15: a segmentectomy names its segments (IV = IVa + IVb); 250 Gy to 180 mL is
    # above the 200 Gy floor, below the 400 Gy glass ablative level (info).
    inputs = {
        "target_dose_gy": 250.0,
        "perfused_volume_ml": 180.0,
        "liver_volume_ml": 1500.0,
        "segments": ["VI", "VII"],
        "lsf": 0.04,
    }
    plan = create(client, keys, delivery="segmentectomy", inputs=inputs)
    current = plan["current"]
    assert current["segments"] == ["VI", "VII"]
    assert current["inputs"]["segments"] == ["VI", "VII"]
    assert current["result"]["segmentectomy"]["floor_gy"] == 200.0
    assert current["result"]["segmentectomy"]["definition"] == "definition"
    found = {f["code"] for f in current["result"]["findings"]}
    assert "SEGMENTECTOMY_BELOW_ABLATIVE" in found
    assert "SEGMENTECTOMY_BELOW_THRESHOLD" not in found
    # revision: three segments (IV counts once with V: IVa, IVb, V, VI = 3 segments)
    revised = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={
            "reason": "tumour reaches segment V",
            "inputs": {**inputs, "segments": ["IV", "V", "VI"]},
        },
        headers=keys.planner,
    )
    assert revised.status_code == 201, revised.text
    v2 = revised.json()["current"]
    assert v2["segments"] == ["IVa", "IVb", "V", "VI"]
    assert "SEGMENTECTOMY_TOO_MANY_SEGMENTS" in {f["code"] for f in v2["result"]["findings"]}
    v1 = client.get(f"/v1/plans/{plan['id']}/versions/1", headers=keys.viewer).json()
    assert v1["segments"] == ["VI", "VII"]
    # segments with a lobar plan are refused, naming the field
    assert_problem(
        client.post(
            "/v1/plans",
            json={**PLAN, "inputs": {**INPUTS, "segments": ["VI"]}},
            headers=keys.planner,
        ),
        422,
        "inputs.segments",
    )


def test_created_answer_is_what_is_stored(client: TestClient, keys: Keys) -> None:
    """The 201 answer is built from the values written, not read back: it must equal a
    later read for a blocked plan with a note, and for a segmentectomy (segments, IV split
    into IVa and IVb as stored), on both databases."""
    blocked = create(client, keys, note="lung shunt high", inputs={**INPUTS, "lsf": 0.3})
    segments = create(
        client,
        keys,
        delivery="segmentectomy",
        inputs={
            "target_dose_gy": 250,
            "perfused_volume_ml": 180,
            "liver_volume_ml": 1500,
            "segments": ["IV", "V"],
            "lsf": 0.04,
        },
    )
    assert blocked["current"]["has_block"] is True and blocked["versions"][0]["has_block"]
    assert blocked["current"]["note"] == blocked["versions"][0]["note"] == "lung shunt high"
    assert segments["current"]["segments"] == ["IVa", "IVb", "V"]
    for plan in (blocked, segments):
        assert plan["approved_version"] is None and plan["approvals"] == []
        stored = client.get(f"/v1/plans/{plan['id']}", headers=keys.viewer)
        assert stored.json() == plan


def test_site_segmentectomy_floors_are_settings(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review finding 6 (issue 15 scope 1): a site running the service chooses the lower
    # floors. 195 Gy glass is below 200 Gy (definition) but above 190 Gy (Lewandowski
    # 2018); 160 Gy resin is above 150 Gy (EANM 2022). Plans, revisions and calculations
    # are checked against the site's floors and say so.
    monkeypatch.setenv("Y90DOSE_GLASS_SEGMENTECTOMY_FLOOR", "lewandowski2018")
    monkeypatch.setenv("Y90DOSE_RESIN_SEGMENTECTOMY_FLOOR", "eanm2022")
    site = create_app(make_settings())
    inputs = {"target_dose_gy": 195.0, "perfused_volume_ml": 150.0, "segments": ["VI"]}
    with TestClient(site) as client:
        planner = {"Authorization": f"Bearer {add_key(site, 'site-planner', 'planner')}"}
        body = {**PLAN, "delivery": "segmentectomy", "inputs": {**inputs, "lsf": 0.05}}
        created = client.post("/v1/plans", json=body, headers=planner)
        assert created.status_code == 201, created.text
        check = created.json()["current"]["result"]
        assert check["segmentectomy"]["definition"] == "lewandowski2018"
        assert check["segmentectomy"]["floor_gy"] == 190.0
        assert "SEGMENTECTOMY_BELOW_THRESHOLD" not in {f["code"] for f in check["findings"]}
        revised = client.post(
            f"/v1/plans/{created.json()['id']}/revisions",
            json={
                "reason": "resin",
                "product": "resin",
                "inputs": {**inputs, "target_dose_gy": 160.0, "lsf": 0.05},
            },
            headers=planner,
        )
        assert revised.status_code == 201, revised.text
        assert revised.json()["current"]["result"]["segmentectomy"]["floor_gy"] == 150.0
        calc = client.post(
            "/v1/calculations/mird",
            json={**inputs, "lsf": 0.05, "delivery": "segmentectomy", "target_dose_gy": 185},
            headers=planner,
        ).json()
        assert calc["segmentectomy"]["definition"] == "lewandowski2018"
        assert "SEGMENTECTOMY_BELOW_THRESHOLD" in {f["code"] for f in calc["findings"]}
    with pytest.raises(ValueError, match="glass_segmentectomy_floor"):
        make_settings(glass_segmentectomy_floor="eanm2022")
