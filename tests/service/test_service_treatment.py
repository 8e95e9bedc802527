"""Multi-territory treatments through the service: the calculation, stored plans with
``model: "treatment"`` (create, revise, approve, report) and the web pages.

Numbers (docs/examples/treatment-lung-sum.json; glass 50 J/GBq, 1.03 g/mL, lungs 0.9 kg):
right lobe 120 Gy to 1000 mL at LSF 0.15: A = 123.6 / 42.5 = 2.908235 GBq, lung
50 x 2.908235 x 0.15 / 0.9 = 24.235294 Gy; left lobe 120 Gy to 500 mL at LSF 0.08:
A = 61.8 / 46 = 1.343478 GBq, lung 5.971014 Gy. Together 30.206309 Gy > 30 Gy: the sum
blocks. With the right lobe's LSF at 0.12 instead: A = 123.6 / 44 = 2.809091 GBq, lung
50 x 2.809091 x 0.12 / 0.9 = 18.727273 Gy, together 24.698287 Gy: no block.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys, add_key, assert_problem
from sqlalchemy import select

from y90dose_service.models import PlanVersion

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
LUNG_SUM: dict[str, Any] = json.loads((EXAMPLES / "treatment-lung-sum.json").read_text())


def lower_right_lsf(body: dict[str, Any], lsf: float = 0.12) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["territories"][0]["inputs"]["lsf"] = lsf
    return changed


PLAN: dict[str, Any] = {
    "patient_ref": "MRN-0044",
    "treatment_date": "2026-12-03",
    "model": "treatment",
    "inputs": LUNG_SUM,
}


def create(client: TestClient, keys: Keys, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/plans", json={**PLAN, **changes}, headers=keys.planner)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_calculation_sums_the_territories(client: TestClient, keys: Keys) -> None:
    response = client.post("/v1/calculations/treatment", json=LUNG_SUM, headers=keys.viewer)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model"] == "treatment"
    assert result["activity_gbq"] == pytest.approx(123.6 / 42.5 + 61.8 / 46)
    assert result["doses_gy"]["lung"] == pytest.approx(24.235294 + 5.971014, abs=1e-5)
    assert [t["name"] for t in result["territories"]] == ["right lobe", "left lobe"]
    blocks = [f for f in result["findings"] if f["severity"] == "block"]
    assert [(f["code"], f["territory"]) for f in blocks] == [("LUNG_DOSE_OVER_LIMIT", None)]


def test_calculation_lists_every_bad_field(client: TestClient, keys: Keys) -> None:
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1]["inputs"]["lsf"] = 1.5
    body["territories"][0]["inputs"]["lung_mass_kg"] = 0.8
    body["lung_mass_kg"] = -1
    response = client.post("/v1/calculations/treatment", json=body, headers=keys.viewer)
    problem = assert_problem(response, 422, "territories[1].inputs.lsf")
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {
        "lung_mass_kg",
        "territories[0].inputs.lung_mass_kg",
        "territories[1].inputs.lsf",
    }
    assert_problem(
        client.post("/v1/calculations/treatment", json=[1], headers=keys.viewer), 422, "body"
    )
    assert client.post("/v1/calculations/treatment", json=LUNG_SUM).status_code == 401


def test_stored_treatment_plan(client: TestClient, keys: Keys, app: FastAPI) -> None:
    plan = create(client, keys)
    current = plan["current"]
    assert current["model"] == "treatment"
    assert current["product"] == "glass" and current["delivery"] is None
    assert current["segments"] is None
    assert current["has_block"] is True
    assert current["result"]["doses_gy"]["lung"] == pytest.approx(30.206309, abs=1e-5)
    # the stored inputs are the treatment as given (no shared field inside a territory)
    assert "lung_mass_kg" not in current["inputs"]["territories"][0]["inputs"]
    assert current["inputs"]["lung_mass_kg"] == 0.9
    assert plan["versions"][0]["activity_gbq"] == pytest.approx(123.6 / 42.5 + 61.8 / 46)
    again = client.get(f"/v1/plans/{plan['id']}", headers=keys.viewer)
    assert again.status_code == 200 and again.json() == plan
    with app.state.sessionmaker() as session:
        row = session.scalars(select(PlanVersion).where(PlanVersion.plan_id == plan["id"])).one()
        assert (row.product, row.delivery, row.model) == ("glass", "territories", "treatment")
    listed = client.get("/v1/plans", headers=keys.viewer).json()["items"][0]
    assert (listed["model"], listed["product"]) == ("treatment", "glass")


def test_mixed_products_have_no_single_product(client: TestClient, keys: Keys) -> None:
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1]["inputs"]["product"] = "resin"
    plan = create(client, keys, inputs=body)
    assert plan["current"]["product"] is None
    listed = client.get("/v1/plans", headers=keys.viewer).json()["items"][0]
    assert listed["product"] is None


def test_product_and_delivery_belong_to_the_territories(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/plans", json={**PLAN, "product": "glass", "delivery": "lobar"}, headers=keys.planner
    )
    problem = assert_problem(response, 422, "product")
    assert "each territory gives its own" in problem["errors"][0]["allowed"]
    single = {
        **PLAN,
        "model": "mird",
        "inputs": {"target_dose_gy": 120, "perfused_volume_ml": 900, "lsf": 0.1},
    }
    problem = assert_problem(client.post("/v1/plans", json=single, headers=keys.planner), 422)
    assert {e["field"] for e in problem["errors"]} == {"product", "delivery"}
    bad = {**PLAN, "inputs": {"territories": []}}
    assert_problem(
        client.post("/v1/plans", json=bad, headers=keys.planner), 422, "inputs.territories"
    )


def test_a_block_by_the_sum_stops_approval_until_revised(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    refused = client.post(
        f"/v1/plans/{plan['id']}/approve", json={"version": 1}, headers=keys.approver
    )
    problem = assert_problem(refused, 409)
    assert problem["type"].endswith("blocked-plan")
    assert [f["code"] for f in problem["findings"]] == ["LUNG_DOSE_OVER_LIMIT"]
    # revise from the stored inputs, as a client reads them back: they validate again
    stored = plan["current"]["inputs"]
    revised = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={"reason": "right lobe LSF re-measured on SPECT/CT", "base_version": 1,
              "inputs": lower_right_lsf(stored)},
        headers=keys.planner,
    )  # fmt: skip
    assert revised.status_code == 201, revised.text
    current = revised.json()["current"]
    assert current["version"] == 2 and current["model"] == "treatment"
    assert current["result"]["doses_gy"]["lung"] == pytest.approx(18.727273 + 5.971014, abs=1e-5)
    assert current["has_block"] is False
    approved = client.post(
        f"/v1/plans/{plan['id']}/approve", json={"version": 2}, headers=keys.approver
    )
    assert approved.status_code == 201, approved.text
    assert approved.json()["approved_version"] == 2


def test_revision_between_a_treatment_and_one_model(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys, inputs=lower_right_lsf(LUNG_SUM))
    mird = {"target_dose_gy": 120, "perfused_volume_ml": 1500, "lsf": 0.1}
    missing = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={"reason": "one catheter position", "model": "mird", "inputs": mird},
        headers=keys.planner,
    )
    problem = assert_problem(missing, 422, "delivery")
    assert "required for model mird" in problem["errors"][0]["allowed"]
    done = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={"reason": "one catheter position", "model": "mird", "inputs": mird,
              "delivery": "whole"},
        headers=keys.planner,
    )  # fmt: skip
    assert done.status_code == 201, done.text
    current = done.json()["current"]
    assert (current["model"], current["product"], current["delivery"]) == (
        "mird", "glass", "whole",
    )  # fmt: skip
    back = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={"reason": "two positions after all", "model": "treatment",
              "inputs": lower_right_lsf(LUNG_SUM)},
        headers=keys.planner,
    )  # fmt: skip
    assert back.status_code == 201, back.text
    assert back.json()["current"]["delivery"] is None


def test_report_of_a_treatment(client: TestClient, keys: Keys) -> None:
    plan = create(client, keys)
    response = client.get(f"/v1/plans/{plan['id']}/report", headers=keys.viewer)
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"%PDF-")


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def test_web_pages_show_a_treatment(client: TestClient, keys: Keys, app: FastAPI) -> None:
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1]["inputs"]["product"] = "resin"
    plan = create(client, keys, inputs=body)
    key = add_key(app, "web-viewer", "planner")
    token = _token(client.get("/signin").text)
    signed = client.post(
        "/signin",
        data={"csrf_token": token, "api_key": key},
        headers={"origin": "http://testserver"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    listing = client.get("/plans")
    assert listing.status_code == 200 and "glass and resin" in listing.text
    page = client.get(f"/plans/{plan['id']}")
    assert page.status_code == 200, page.text
    assert "right lobe" in page.text and "left lobe" in page.text
    assert "whole liver dose" in page.text
    assert "LUNG_DOSE_OVER_LIMIT" in page.text
    revise = client.get(
        f"/plans/{plan['id']}/revise"
    )  # the treatment form (test_service_web_treatment)
    assert revise.status_code == 200 and 'value="right lobe"' in revise.text
