"""Hostile input found by review: every case is a problem document (never a 500) and a
refused request stores nothing."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys, assert_problem, dicom_bytes, make_zip
from sqlalchemy import func, select

from y90dose_service.models import AuditEvent, Plan, Study

PLAN = {
    "patient_ref": "MRN-0042",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08},
}


def count(app: FastAPI, model: Any) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/plans", "viewer"),
        ("/v1/studies", "viewer"),
        ("/v1/dose-jobs", "viewer"),
        ("/v1/audit-events", "approver"),
    ],
)
@pytest.mark.parametrize("offset", ["9223372036854775808", "1" + "0" * 30])
def test_offset_past_a_64_bit_integer_is_a_problem(
    client: TestClient, keys: Keys, path: str, role: str, offset: str
) -> None:
    response = client.get(path, params={"offset": offset}, headers=getattr(keys, role))
    assert_problem(response, 422, "offset")


def test_deeply_nested_json_is_a_problem(client: TestClient, keys: Keys) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post(
        "/v1/calculations/mird",
        content=body,
        headers={**keys.viewer, "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "body")


@pytest.mark.parametrize("body", [b"", b"[1, 2]", b'"text"'])
def test_plan_body_that_is_not_an_object_names_the_body(
    client: TestClient, keys: Keys, body: bytes
) -> None:
    response = client.post(
        "/v1/plans", content=body, headers={**keys.planner, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "body")
    assert "combination" not in problem["detail"]


@pytest.mark.parametrize("when", [0, 20261201, 1.5e9])
def test_treatment_date_as_a_number_is_refused(
    app: FastAPI, client: TestClient, keys: Keys, when: Any
) -> None:
    """A number is not read as Unix seconds: 20261201 would be 1970-08-23."""
    response = client.post("/v1/plans", json={**PLAN, "treatment_date": when}, headers=keys.planner)
    assert_problem(response, 422, "treatment_date")
    assert count(app, Plan) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("patient_ref", "MRN\x000042"), ("patient_ref", "MRN\n0042"), ("note", "a\x00b")],
)
def test_control_characters_in_plan_text_are_refused(
    app: FastAPI, client: TestClient, keys: Keys, field: str, value: str
) -> None:
    response = client.post("/v1/plans", json={**PLAN, field: value}, headers=keys.planner)
    assert_problem(response, 422, field)
    assert count(app, Plan) == 0


def test_nul_in_revision_and_approval_text_is_refused(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    plan = client.post("/v1/plans", json=PLAN, headers=keys.planner).json()
    revised = client.post(
        f"/v1/plans/{plan['id']}/revisions",
        json={"reason": "fix\x00", "inputs": PLAN["inputs"]},
        headers=keys.planner,
    )
    assert_problem(revised, 422, "reason")
    approved = client.post(
        f"/v1/plans/{plan['id']}/approve",
        json={"version": 1, "comment": "ok\x00"},
        headers=keys.approver,
    )
    assert_problem(approved, 422, "comment")
    assert count(app, AuditEvent) == 1  # the create only


@pytest.mark.parametrize(
    ("path", "params", "field", "role"),
    [
        ("/v1/plans", {"patient_ref": "a\x00"}, "patient_ref", "viewer"),
        ("/v1/dose-jobs", {"study_id": "a\x00"}, "study_id", "viewer"),
        ("/v1/audit-events", {"key_name": "a\x00"}, "key_name", "approver"),
        ("/v1/audit-events", {"resource_id": "a\x00"}, "resource_id", "approver"),
        ("/v1/plans/a%00b", {}, "path", "viewer"),
        ("/v1/studies/a%00b", {}, "path", "viewer"),
        ("/v1/dose-jobs/a%00b", {}, "path", "viewer"),
        ("/v1/dose-jobs/a%00b/files/x.csv", {}, "path", "viewer"),
    ],
)
def test_nul_in_path_or_query_is_a_problem(
    client: TestClient, keys: Keys, path: str, params: dict[str, str], field: str, role: str
) -> None:
    response = client.get(path, params=params, headers=getattr(keys, role))
    assert_problem(response, 422, field)


def test_nul_in_dose_job_study_id_is_a_problem(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/dose-jobs",
        json={"study_id": "a\x00", "activity_gbq": 1.0, "lsf": 0.1, "product": "glass"},
        headers=keys.planner,
    )
    assert_problem(response, 422, "study_id")


def _patched(
    data: bytes, local_offset: int, central_offset: int, value: int, *, bit: bool
) -> bytes:
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = out.find(signature) + offset
        out[at] = out[at] | value if bit else value
    return bytes(out)


def _stored_zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(name, data)
    return buffer.getvalue()


def _bad_crc() -> bytes:
    data = bytearray(_stored_zip("scan/a.dcm", dicom_bytes()))
    at = data.find(b"DICM") + 10
    data[at] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    ("case", "archive", "named"),
    [
        ("file then folder", lambda: make_zip({"a": dicom_bytes(), "a/b": dicom_bytes()}), "a"),
        ("folder then file", lambda: make_zip({"a/b": dicom_bytes(), "a": dicom_bytes()}), "a"),
        ("name too long", lambda: make_zip({"x" * 300 + ".dcm": dicom_bytes()}), None),
        ("bad CRC", _bad_crc, "scan/a.dcm"),
        (
            "encrypted",
            lambda: _patched(_stored_zip("a.dcm", dicom_bytes()), 6, 8, 1, bit=True),
            "a.dcm",
        ),
        (
            "unknown compression",
            lambda: _patched(_stored_zip("a.dcm", dicom_bytes()), 8, 10, 99, bit=False),
            "a.dcm",
        ),
    ],
)
def test_unusable_zip_entries_are_named_and_nothing_is_kept(
    app: FastAPI, client: TestClient, keys: Keys, case: str, archive: Any, named: str | None
) -> None:
    response = client.post(
        "/v1/studies",
        files={"file": ("study.zip", archive(), "application/zip")},
        headers=keys.planner,
    )
    problem = assert_problem(response, 422, "file")
    if named is not None:
        assert problem["errors"][0]["value"] == named, case
    assert count(app, Study) == 0
    studies = app.state.settings.studies_dir
    assert not studies.exists() or not any(studies.iterdir())


def test_study_summary_does_not_show_server_paths(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    response = client.post(
        "/v1/studies",
        files={"file": ("study.zip", make_zip({"a.dcm": dicom_bytes()}), "application/zip")},
        headers=keys.planner,
    )
    assert response.status_code == 201, response.text
    data_dir = str(app.state.settings.data_dir.resolve())
    assert data_dir not in response.text
    assert str(app.state.settings.data_dir) not in response.text


def _bad_vr() -> bytes:
    data = bytearray(dicom_bytes())
    at = data.find(b"\x08\x00\x60\x00CS")  # (0008,0060) Modality, explicit VR CS
    data[at + 4 : at + 6] = b"Q!"
    return bytes(data)


@pytest.mark.parametrize(
    ("case", "content"),
    [
        ("unknown VR", _bad_vr),
        ("cut inside the meta header length", lambda: dicom_bytes()[:142]),
        ("cut inside an element header", lambda: dicom_bytes()[:153]),
    ],
)
def test_corrupt_dicom_is_named_not_a_500(
    app: FastAPI, client: TestClient, keys: Keys, case: str, content: Any
) -> None:
    response = client.post(
        "/v1/studies",
        files={"file": ("s.zip", make_zip({"CT/bad.dcm": content()}), "application/zip")},
        headers=keys.planner,
    )
    problem = assert_problem(response, 422, "file")
    assert problem["errors"][0]["value"] == "CT/bad.dcm", case
    assert count(app, Study) == 0


DEEP_JSON = b"[" * 50_000 + b"]" * 50_000


@pytest.mark.parametrize("entry", ["study.json", "names.json"])
def test_deeply_nested_json_in_the_zip_is_named(
    app: FastAPI, client: TestClient, keys: Keys, entry: str
) -> None:
    archive = make_zip({"a.dcm": dicom_bytes(), entry: DEEP_JSON})
    response = client.post(
        "/v1/studies", files={"file": ("s.zip", archive, "application/zip")}, headers=keys.planner
    )
    problem = assert_problem(response, 422)
    assert entry in str(problem["errors"][0]["field"]) + str(problem["errors"][0]["value"])
    assert count(app, Study) == 0


def test_deeply_nested_names_field_is_a_problem(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    response = client.post(
        "/v1/studies",
        files={"file": ("s.zip", make_zip({"a.dcm": dicom_bytes()}), "application/zip")},
        data={"names": "[" * 50_000 + "]" * 50_000},
        headers=keys.planner,
    )
    assert_problem(response, 422, "names")
    assert count(app, Study) == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/calculations/decay",
            {
                "activity_gbq": 3.0,
                "from_time": "2036-01-01T00:00:00Z",  # a year typed 2036 for 2026
                "to_time": "2026-01-01T00:00:00Z",
            },
            "to_time",
        ),
        (
            "/v1/calculations/vial",
            {
                "activity_gbq": 3.0,
                "product": "resin",
                "calibration_time": "2036-01-01T00:00:00Z",
                "treatment_time": "2026-01-01T00:00:00Z",
            },
            "treatment_time",
        ),
    ],
)
def test_instants_years_apart_backwards_are_a_problem(
    client: TestClient, keys: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    """Going back ten years multiplies the activity by 2^1366: a float overflow."""
    assert_problem(client.post(path, json=body, headers=keys.viewer), 422, field)


def _study(client: TestClient, keys: Keys) -> str:
    response = client.post(
        "/v1/studies",
        files={"file": ("s.zip", make_zip({"a.dcm": dicom_bytes()}), "application/zip")},
        headers=keys.planner,
    )
    study_id: str = response.json()["id"]
    return study_id


PLAN_TEXT = (
    '{"patient_ref": %s, "treatment_date": "2026-12-01", "product": "glass", '
    '"delivery": "lobar", "model": "mird", "note": %s, '
    '"inputs": {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08}}'
)


@pytest.mark.parametrize(
    ("case", "field"),
    [("patient_ref", "patient_ref"), ("note", "note"), ("options", "options"), ("calc", "x")],
)
def test_unpaired_surrogates_in_json_are_refused_and_nothing_stored(
    app: FastAPI, client: TestClient, keys: Keys, case: str, field: str
) -> None:
    """JSON may spell a lone surrogate (\\ud800) that no UTF-8 text holds: the answer
    used to crash while being written (a 500, after the job or study was stored)."""
    headers = {**keys.planner, "Content-Type": "application/json"}
    lone = '"\\ud800"'
    if case in ("patient_ref", "note"):
        body = PLAN_TEXT % ((lone, '"ok"') if case == "patient_ref" else ('"MRN-1"', lone))
        response = client.post("/v1/plans", content=body, headers=headers)
    elif case == "options":
        study_id = _study(client, keys)
        body = (
            (
                '{"study_id": "STUDY", "activity_gbq": 1, "lsf": 0.1, "product": "glass", '
                '"options": {"x": LONE}}'
            )
            .replace("STUDY", study_id)
            .replace("LONE", lone)
        )
        response = client.post("/v1/dose-jobs", content=body, headers=headers)
    else:
        body = '{"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08, "x": LONE}'
        body = body.replace("LONE", lone)
        response = client.post("/v1/calculations/mird", content=body, headers=headers)
    assert_problem(response, 422, field)
    assert count(app, Plan) == 0
    with app.state.sessionmaker() as session:
        assert not session.scalars(
            select(AuditEvent).where(AuditEvent.action != "study.upload")
        ).all()


@pytest.mark.parametrize("where", ["field", "names.json", "study.json"])
def test_unpaired_surrogates_in_study_names_are_refused(
    app: FastAPI, client: TestClient, keys: Keys, where: str
) -> None:
    entries = {"a.dcm": dicom_bytes()}
    form = {}
    if where == "field":
        form["names"] = '{"1": "\\ud800"}'
    elif where == "names.json":
        entries["names.json"] = b'{"1": "\\ud800"}'
    else:
        entries["study.json"] = b'{"labels": "\\ud800"}'
    response = client.post(
        "/v1/studies",
        files={"file": ("s.zip", make_zip(entries), "application/zip")},
        data=form,
        headers=keys.planner,
    )
    assert_problem(response, 422)
    assert count(app, Study) == 0


@pytest.mark.parametrize("path", ["/v1/plans", "/v1/dose-jobs"])
def test_unparsable_json_body_names_the_body(client: TestClient, keys: Keys, path: str) -> None:
    """FastAPI answers a body its JSON parser gives up on (nested too deep) with a bare 400."""
    response = client.post(
        path,
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={**keys.planner, "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "body")
