"""The web pages for treatments and uncertainty, through the app (TestClient): the forms
(generated from the schemas, units shown), the API's messages at territory fields, the
live preview, a treatment stored, revised and approved through the forms and equal to
``POST /v1/calculations/treatment``'s answer.

Numbers (docs/examples/treatment-lung-sum.json; glass 50 J/GBq, 1.03 g/mL, lungs 0.9 kg):
right lobe 120 Gy to 1000 mL at LSF 0.15: A = 123.6 / 42.5 = 2.908235 GBq, lung
50 x 2.908235 x 0.15 / 0.9 = 24.235294 Gy; left lobe 120 Gy to 500 mL at LSF 0.08:
A = 61.8 / 46 = 1.343478 GBq, lung 5.971014 Gy; together 30.206309 Gy > 30 Gy: the sum
blocks. Right lobe at LSF 0.12: A = 123.6 / 44 = 2.809091 GBq, lung 18.727273 Gy, together
24.698287 Gy. The right lobe's LSF bound in the treatment: the left lobe leaves
30 - 5.971014 = 24.028986 Gy, 123.6 x x / 0.9 = 24.028986 at x = LSF / (1 - LSF) =
0.174968, LSF 0.14891.

MIRD 120 Gy to 1165 mL, LSF 0.08, only the volume uncertain (SD 10 %): the dose the planned
activity gives ~ 1/M, M lognormal with CV 0.1 (sigma^2 = ln 1.01): 95 % interval
120 x exp(sigma^2 / 2 -/+ 1.96 sigma) = 99.18 to 146.64 Gy (tests/test_reports_uncertainty.py).
"""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys, add_key

from y90dose.reports.plan import uncertainty_rows
from y90dose.uncertainty.result import Uncertainty
from y90dose_service.problems import sentence

BASE = "http://testserver"
ORIGIN = {"origin": BASE}
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
LUNG_SUM: dict[str, Any] = json.loads((EXAMPLES / "treatment-lung-sum.json").read_text())
MIRD = {"target_dose_gy": "120", "perfused_volume_ml": "1165", "lsf": "0.08"}
VOLUME_ONLY = {
    "sd_volume_percent": "10",
    "sd_lsf": "0",
    "sd_activity_percent": "0",
    "sd_lung_mass_percent": "0",
}


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(client: TestClient, app: FastAPI, name: str, role: str) -> str:
    """Sign in through the form with a new key; the page's CSRF token."""
    key = add_key(app, name, role)
    token = _token(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"csrf_token": token, "api_key": key},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return _token(client.get("/plans").text)


def treatment_form(body: dict[str, Any]) -> dict[str, Any]:
    """A treatment body as the form's fields, as a user types them (text)."""
    form: dict[str, Any] = {"model": "treatment"}
    for name, value in body.items():
        if name != "territories":
            form[name] = str(value)
    for index, territory in enumerate(body["territories"]):
        head = f"territories[{index}]."
        form[head + "name"] = territory["name"]
        form[head + "model"] = territory["model"]
        if "treatment_date" in territory:
            form[head + "treatment_date"] = territory["treatment_date"]
        form[head + "inputs.product"] = territory["inputs"].get("product", "glass")
        form[head + "inputs.delivery"] = territory["inputs"].get("delivery", "whole")
        for name, value in territory["inputs"].items():
            if name not in ("product", "delivery"):
                typed = [str(v) for v in value] if isinstance(value, list) else str(value)
                form[head + "inputs." + name] = typed
    return form


def slot(page: str, name: str) -> str:
    """The text of the message slot of field ``name`` (unescaped)."""
    found = re.search(rf'id="err-{re.escape(name)}"[^>]*>([^<]*)<', page)
    assert found is not None, f"no message slot for {name}"
    return html.unescape(found.group(1))


def text_of(page: str) -> str:
    """A page's text, tags removed, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _api_messages(client: TestClient, keys: Keys, body: dict[str, Any]) -> dict[str, str]:
    response = client.post("/v1/calculations/treatment", json=body, headers=keys.viewer)
    assert response.status_code == 422, response.text
    return {
        e["field"]: sentence(e["field"], e["value"], e["allowed"])
        for e in response.json()["errors"]
    }


# --- forms ------------------------------------------------------------------------------


def test_forms_offer_the_uncertainty_switch_and_sds_with_units(
    client: TestClient, app: FastAPI
) -> None:
    sign_in(client, app, "former", "planner")
    page = client.get("/plans/new?model=partition").text
    assert re.search(
        r'<input type="checkbox" id="f-uncertainty" name="uncertainty" value="true"', page
    )
    for name, unit in (
        ("sd_volume_percent", "%"),
        ("sd_tn_percent", "%"),
        ("sd_lsf", "fraction (0.02 = 2 percentage points)"),
        ("sd_lung_mass_percent", "%"),
    ):
        found = re.search(rf'name="{name}".*?<span class="unit">([^<]*)</span>', page, re.S)
        assert found is not None and found.group(1) == unit, name
    assert "sd_tn_percent" not in client.get("/plans/new?model=mird").text  # MIRD has no TN
    # the treatment form: the patient's fields once, each territory's own fields
    page = client.get("/plans/new?model=treatment").text
    for shared in ("lung_mass_kg", "prior_lung_dose_gy", "density_g_ml", "liver_volume_ml"):
        assert f'name="{shared}"' in page
        assert f'name="territories[0].inputs.{shared}"' not in page
    for own in ("lsf", "target_dose_gy", "perfused_volume_ml", "sd_lsf", "product", "delivery"):
        assert f'name="territories[0].inputs.{own}"' in page
        assert f'name="territories[1].inputs.{own}"' in page
    assert 'name="territories[2].name"' not in page  # two territories to start with


def test_territories_added_removed_and_re_modelled(client: TestClient, app: FastAPI) -> None:
    csrf = sign_in(client, app, "arranger", "planner")
    form = {
        **treatment_form(LUNG_SUM),
        "csrf_token": csrf,
    }

    def territories(action: str, data: dict[str, Any]) -> str:
        response = client.post(
            "/plans/treatment/territories", data={**data, "action": action}, headers=ORIGIN
        )
        assert response.status_code == 200, response.text
        return response.text

    added = territories("add", form)
    assert 'id="territory-3"' in added and 'name="territories[2].inputs.lsf"' in added
    # removing the first renumbers the rest: the left lobe becomes territories[0]
    removed = territories("remove-0", form)
    assert 'id="territory-2"' not in removed
    assert re.search(r'name="territories\[0\].name" value="left lobe"', removed)
    assert re.search(r'name="territories\[0\].inputs.lsf"[^>]*value="0.08"', removed, re.S)
    # the left lobe by BSA: its fields, resin, the values of fields both models have kept
    form["territories[1].model"] = "bsa"
    bsa = territories("model-1", form)
    assert 'name="territories[1].inputs.height_cm"' in bsa
    assert 'name="territories[1].inputs.target_dose_gy"' not in bsa
    assert re.search(r'name="territories\[1\].inputs.product".*?<option selected>resin', bsa, re.S)
    assert re.search(r'name="territories\[1\].inputs.lsf"[^>]*value="0.08"', bsa, re.S)
    # without the token: refused
    refused = client.post("/plans/treatment/territories", data={"action": "add"}, headers=ORIGIN)
    assert refused.status_code == 403


def test_at_most_the_apis_territories_and_never_none(client: TestClient, app: FastAPI) -> None:
    csrf = sign_in(client, app, "counter", "planner")
    body = {"territories": [{"name": f"t{i}", "model": "mird", "inputs": {}} for i in range(10)]}
    page = client.post(
        "/plans/treatment/territories",
        data={**treatment_form(body), "csrf_token": csrf, "action": "add"},
        headers=ORIGIN,
    ).text
    assert 'id="territory-10"' in page and 'id="territory-11"' not in page
    assert "Add territory" not in page and "10 territories: the most one treatment takes" in page
    one = {"territories": [{"name": "only", "model": "mird", "inputs": {}}]}
    page = client.post(
        "/plans/treatment/territories",
        data={**treatment_form(one), "csrf_token": csrf, "action": "remove-0"},
        headers=ORIGIN,
    ).text
    assert 'value="only"' in page and "Remove territory" not in page


# --- preview ----------------------------------------------------------------------------


def test_preview_shows_the_intervals_of_the_calculation(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    csrf = sign_in(client, app, "previewer", "viewer")
    form = {"csrf_token": csrf, "model": "mird", "product": "glass", "delivery": "whole"}
    page = client.post("/plans/preview", data={**form, **MIRD, **VOLUME_ONLY}, headers=ORIGIN)
    assert page.status_code == 200
    shown = text_of(page.text)
    api = client.post(
        "/v1/calculations/mird",
        json={k: float(v) for k, v in {**MIRD, **VOLUME_ONLY}.items()},
        headers=keys.viewer,
    ).json()
    rows = uncertainty_rows(Uncertainty.model_validate(api["uncertainty"]))
    perfused = next(r for r in rows.intervals if r[0] == "perfused dose")
    _, _, interval, sd, _, unit = perfused
    assert f"perfused dose {interval} {unit} {sd} {unit}" in shown
    low, high = (float(v) for v in interval.split(" to "))
    assert (low, high) == pytest.approx((99.18, 146.64), rel=0.015)  # by hand, above
    assert "Drivers of perfused (share of its variance): perfused_volume_ml 100 %" in shown
    assert "Every input SD was given." in shown
    assert "the lung limit binds (lsf_bound) 0.1724" in shown  # 30 / 143.994 -> 0.17242
    assert "1.25 million, 2,500 Bq each" in shown  # 3.1303e9 Bq / 2500 Bq
    # the switch alone: literature defaults, named
    switched = client.post(
        "/plans/preview", data={**form, **MIRD, "uncertainty": "true"}, headers=ORIGIN
    )
    assert (
        "Literature defaults used (no SD given): sd_activity_percent, sd_lsf, "
        "sd_lung_mass_percent, sd_volume_percent" in text_of(switched.text)
    )
    # the switch off with an SD is the API's contradiction, at the field
    contradiction = client.post(
        "/plans/preview",
        data={**form, **MIRD, "uncertainty": "false", "sd_lsf": "0.02"},
        headers=ORIGIN,
    )
    assert "uncertainty is false but sd_lsf was given" in html.unescape(contradiction.text)


def test_treatment_preview_puts_the_apis_messages_at_territory_fields(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    csrf = sign_in(client, app, "typist", "viewer")
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1]["inputs"]["lsf"] = 1.5
    body["territories"][0]["inputs"]["perfused_volume_ml"] = -3.5
    body["lung_mass_kg"] = 0.05
    page = client.post(
        "/plans/preview", data={**treatment_form(body), "csrf_token": csrf}, headers=ORIGIN
    ).text
    api = _api_messages(client, keys, body)
    assert set(api) == {
        "lung_mass_kg",
        "territories[0].inputs.perfused_volume_ml",
        "territories[1].inputs.lsf",
    }
    for field, message in api.items():
        assert slot(page, field) == message
    assert slot(page, "territories[1].inputs.lsf").startswith(
        "territories[1].inputs.lsf: 1.5 is not allowed; expected a number < 1"
    )
    assert "Not computed: 3 inputs to correct" in page
    # a territory's model refusing when it computes (BSA is resin's): at its product
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1] = {
        "name": "left lobe",
        "model": "bsa",
        "inputs": {"lsf": 0.05, "height_cm": 170, "weight_kg": 70, "tumor_volume_ml": 50,
                   "treated_volume_ml": 500, "delivery": "lobar", "product": "glass"},
    }  # fmt: skip
    page = client.post(
        "/plans/preview", data={**treatment_form(body), "csrf_token": csrf}, headers=ORIGIN
    ).text
    assert (
        slot(page, "territories[1].inputs.product")
        == _api_messages(client, keys, body)["territories[1].inputs.product"]
    )


def test_treatment_preview_is_the_calculation(client: TestClient, app: FastAPI, keys: Keys) -> None:
    csrf = sign_in(client, app, "looker", "viewer")
    page = client.post(
        "/plans/preview", data={**treatment_form(LUNG_SUM), "csrf_token": csrf}, headers=ORIGIN
    ).text
    shown = text_of(page)
    assert "Blocking findings" in shown
    assert "LUNG_DOSE_OVER_LIMIT lung dose of the treatment 30.2 Gy (right lobe 24.2" in shown
    assert "lung dose (treatment) 30.21 Gy" in shown  # 24.235294 + 5.971014
    assert "4.252 GBq" in shown  # 2.908235 + 1.343478


# --- stored, revised, approved -----------------------------------------------------------


def test_treatment_stored_revised_and_approved_through_the_forms(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    csrf = sign_in(client, app, "web-planner", "planner")
    form = {
        **treatment_form(LUNG_SUM),
        "csrf_token": csrf,
        "patient_ref": "WEB-T1",
        "treatment_date": "2026-12-03",
        "note": "bilobar",
    }
    stored = client.post("/plans/new", data=form, headers=ORIGIN, follow_redirects=False)
    assert stored.status_code == 303, stored.text
    plan_url = stored.headers["location"]
    plan = client.get("/v1" + plan_url, headers=keys.viewer).json()
    api = client.post("/v1/calculations/treatment", json=LUNG_SUM, headers=keys.viewer).json()
    assert plan["current"]["model"] == "treatment"
    assert plan["current"]["result"] == api  # the stored result is the calculation's
    assert plan["current"]["result"]["doses_gy"]["lung"] == pytest.approx(30.206309, abs=1e-5)
    assert plan["current"]["has_block"] is True
    page = text_of(client.get(plan_url).text)
    assert "lung dose (treatment) 30.21 Gy" in page
    # each territory: model, activity, LSF, its LSF bound alone and in the treatment
    assert "right lobe mird, glass, lobar 2.908 GBq 0.15 0.1793 0.1489" in page
    assert "the plan's date" not in page and "2026-12-03 right lobe, left lobe 30.21 Gy" in page
    assert "LUNG_DOSE_OVER_LIMIT" in page

    # the revision form holds the stored values; the right lobe's LSF re-measured
    revise_page = client.get(plan_url + "/revise").text
    assert re.search(r'name="territories\[0\].inputs.lsf"[^>]*value="0.15"', revise_page, re.S)
    assert re.search(r'name="lung_mass_kg"[^>]*value="0.9"', revise_page, re.S)
    revision = {
        **treatment_form(LUNG_SUM),
        "csrf_token": csrf,
        "reason": "right lobe LSF re-measured on SPECT/CT",
        "base_version": "1",
        "treatment_date": "2026-12-03",
        "territories[0].inputs.lsf": "0.12",
    }
    revised = client.post(
        plan_url + "/revise", data=revision, headers=ORIGIN, follow_redirects=False
    )
    assert revised.status_code == 303, revised.text
    current = client.get("/v1" + plan_url, headers=keys.viewer).json()["current"]
    assert current["version"] == 2 and current["has_block"] is False
    assert current["result"]["doses_gy"]["lung"] == pytest.approx(24.698287, abs=1e-5)
    changes = text_of(client.get(plan_url).text)
    assert "inputs.territories[0].inputs.lsf 0.15 0.12" in changes

    # a stale revision is refused, in the API's words, with the form kept
    stale = client.post(plan_url + "/revise", data=revision, headers=ORIGIN)
    assert stale.status_code == 409
    assert "this revision was made from version 1" in html.unescape(stale.text)
    assert re.search(r'name="territories\[0\].inputs.lsf"[^>]*value="0.12"', stale.text, re.S)

    # approved by an approver through the page
    client.cookies.clear()
    approver = sign_in(client, app, "web-approver", "approver")
    done = client.post(
        plan_url + "/approve",
        data={"csrf_token": approver, "version": "2"},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert client.get("/v1" + plan_url, headers=keys.viewer).json()["approved_version"] == 2


def test_a_refused_treatment_keeps_the_form_and_says_where(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    csrf = sign_in(client, app, "hasty", "planner")
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1]["name"] = "right lobe"  # two territories of one name
    form = {
        **treatment_form(body),
        "csrf_token": csrf,
        "patient_ref": "WEB-T2",
        "treatment_date": "2026-12-03",
    }
    refused = client.post("/plans/new", data=form, headers=ORIGIN)
    assert refused.status_code == 422
    message = slot(refused.text, "territories[1].name")
    assert message.startswith("inputs.territories[1].name: 'right lobe' is not allowed")
    assert 'name="territories[1].inputs.lsf"' in refused.text  # the form, as typed
    assert client.get("/v1/plans?patient_ref=WEB-T2", headers=keys.viewer).json()["total"] == 0


def test_a_territorys_uncertainty_is_shown_on_the_plan_page(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    csrf = sign_in(client, app, "doubter", "planner")
    body = copy.deepcopy(LUNG_SUM)
    body["territories"][1]["inputs"] |= {k: float(v) for k, v in VOLUME_ONLY.items()}
    form = {
        **treatment_form(body),
        "csrf_token": csrf,
        "patient_ref": "WEB-T3",
        "treatment_date": "2026-12-03",
    }
    stored = client.post("/plans/new", data=form, headers=ORIGIN, follow_redirects=False)
    assert stored.status_code == 303, stored.text
    page = client.get(stored.headers["location"]).text
    result = client.get("/v1" + stored.headers["location"], headers=keys.viewer).json()
    left = result["current"]["result"]["territories"][1]["result"]["uncertainty"]
    rows = uncertainty_rows(Uncertainty.model_validate(left))
    name, _, interval, sd, first_order, _ = rows.intervals[1]
    # 120 Gy to 500 mL, volume SD 10 %: first-order SD 12 Gy (as for 1165 mL)
    assert (name, first_order) == ("perfused dose", "12")
    assert f"perfused dose {interval} Gy {sd} Gy 12 Gy" in text_of(page)
    # the stored inputs say uncertainty true, so a revision from them validates again
    stored_inputs = result["current"]["inputs"]["territories"][1]["inputs"]
    assert stored_inputs["uncertainty"] is True


def test_a_plan_becomes_a_treatment_and_back_in_the_revision_form(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    single = {
        "patient_ref": "WEB-T4",
        "treatment_date": "2026-12-01",
        "product": "resin",
        "delivery": "lobar",
        "model": "mird",
        "inputs": {"target_dose_gy": 100, "perfused_volume_ml": 900, "lsf": 0.07,
                   "lung_mass_kg": 0.8},
    }  # fmt: skip
    plan_id = client.post("/v1/plans", json=single, headers=keys.planner).json()["id"]
    sign_in(client, app, "reshaper", "planner")
    # as a treatment: the plan is territory 1 (its lung mass the patient's), territory 2 empty
    page = client.get(f"/plans/{plan_id}/revise?model=treatment").text
    assert re.search(r'name="territories\[0\].inputs.lsf"[^>]*value="0.07"', page, re.S)
    assert re.search(r'name="territories\[0\].inputs.product".*?<option selected>resin', page, re.S)
    assert re.search(r'name="lung_mass_kg"[^>]*value="0.8"', page, re.S)
    assert 'name="territories[0].inputs.lung_mass_kg"' not in page
    assert re.search(r'name="territories\[1\].inputs.lsf"[^>]*value=""', page, re.S)
    # a stored treatment revised as one model starts from its first territory
    treatment = {**single, "model": "treatment", "inputs": LUNG_SUM}
    del treatment["product"], treatment["delivery"]
    plan_id = client.post("/v1/plans", json=treatment, headers=keys.planner).json()["id"]
    page = client.get(f"/plans/{plan_id}/revise?model=mird").text
    assert re.search(r'name="lsf"[^>]*value="0.15"', page, re.S)
    assert re.search(r'name="delivery".*?<option selected>lobar', page, re.S)
