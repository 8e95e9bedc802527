"""DICOM networking of the service without external peers, on SQLite and PostgreSQL: the
Storage SCP in the app's lifespan (fed by y90dose's own C-STORE client), the API's
refusals of sends and imports, and settings that stop the start with the setting named.

The round trips with Orthanc and dcmtk are in ``test_service_dicom_peers.py``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import SERIES_UID, STUDY_UID, add_key, assert_problem, dicom_bytes
from service_server import free_port

from y90dose.errors import InputError
from y90dose_service.main import create_app
from y90dose_service.models import DicomTransfer, DoseJob, Study

pytest.importorskip("pynetdicom")

DESTINATIONS: list[dict[str, Any]] = [
    {"name": "pacs", "kind": "dimse", "host": "127.0.0.1", "port": 1, "ae_title": "PACS"},
    {"name": "web", "kind": "dicomweb", "url": "https://user:secret@pacs.example.org/dicom-web"},
]
SEND = {"destination": "pacs", "objects": ["rtdose", "rtstruct"]}


def test_the_scp_stores_what_a_peer_sends_and_warns_that_any_caller_is_accepted(
    make_settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from y90dose.dicomnet import Destination, send_files

    port = free_port()
    app = create_app(make_settings(dicom_port=port))
    key = add_key(app, "viewer", "viewer")
    files = []
    for index in range(3):
        path = tmp_path / f"CT_{index}.dcm"
        path.write_bytes(dicom_bytes())
        files.append(path)
    scp = Destination(name="scp", kind="dimse", host="127.0.0.1", port=port, ae_title="Y90DOSE")
    with caplog.at_level(logging.WARNING, "y90dose.service.dicom"), TestClient(app) as client:
        assert any(
            "Y90DOSE_DICOM_CALLING_AE_TITLES is not set" in r.getMessage() for r in caplog.records
        )
        report = send_files(files, scp, calling_ae_title="ANYONE")
        assert [i.status for i in report.instances] == ["stored"] * 3
        deadline = time.monotonic() + 30
        while not (items := client.get("/v1/studies", headers={"X-API-Key": key}).json()["items"]):
            assert time.monotonic() < deadline, "no study stored"
            time.sleep(0.1)
    (study,) = items
    assert study["created_by"] == "dicom:ANYONE"
    assert study["file_count"] == 3
    assert study["summary"]["series"] == [
        {"modality": "CT", "series_instance_uid": SERIES_UID, "files": 3}
    ]
    assert study["summary"]["dose_inputs"]["usable"] is False  # no emission image, no VOIs
    with app.state.sessionmaker() as session:
        row = session.get(Study, study["id"])
        assert row is not None and row.summary["source"]["calling_ae_title"] == "ANYONE"


def test_a_received_study_past_the_voxel_limit_is_not_stored_and_audited_without_uids(
    make_settings: Any, tmp_path: Path
) -> None:
    """The study-level checks of an upload run when the association ends: 3 images of 4 x
    4 pixels are 48 voxels, past an image_max_voxels of 40."""
    from y90dose.dicomnet import Destination, send_files

    port = free_port()
    app = create_app(
        make_settings(dicom_port=port, dicom_calling_ae_titles=["SPECTCT1"], image_max_voxels=40)
    )
    key = {"X-API-Key": add_key(app, "approver", "approver")}
    files = []
    for index in range(3):
        files.append(tmp_path / f"CT_{index}.dcm")
        files[-1].write_bytes(dicom_bytes())
    scp = Destination(name="scp", kind="dimse", host="127.0.0.1", port=port, ae_title="Y90DOSE")
    with TestClient(app) as client:
        report = send_files(files, scp, calling_ae_title="SPECTCT1")
        assert report.failed == []  # each instance is whole; the study is refused at the end

        def refused() -> list[dict[str, Any]]:
            events = client.get("/v1/audit-events", headers=key).json()["items"]
            return [e for e in events if e["action"] == "study.receive_refused"]

        deadline = time.monotonic() + 30
        while not (events := refused()):
            assert time.monotonic() < deadline, "no refusal audited"
            time.sleep(0.1)
        assert client.get("/v1/studies", headers=key).json()["total"] == 0
    (event,) = events
    assert event["key_name"] == "dicom:SPECTCT1"
    assert event["detail"]["received"] == 3
    reason = event["detail"]["reason"]
    assert "at most 40 voxels (image_max_voxels)" in reason and "holds 48 voxels" in reason
    assert SERIES_UID not in reason and "<UID>" in reason
    assert not any((app.state.settings.data_dir / "studies").iterdir())


def test_sends_and_imports_are_refused_with_the_field_named(make_settings: Any) -> None:
    app = create_app(make_settings(dicom_destinations=DESTINATIONS))
    planner = {"X-API-Key": add_key(app, "planner", "planner")}
    viewer = {"X-API-Key": add_key(app, "viewer", "viewer")}
    with app.state.sessionmaker() as session:
        for study_id, kind in (("s-dicom", "dicom"), ("s-nifti", "nifti")):
            session.add(
                Study(
                    id=study_id, kind=kind, file_count=1, size_bytes=1, summary={}, created_by="t"
                )
            )
        session.flush()
        for job_id, study_id, status in (
            ("j-queued", "s-dicom", "queued"),
            ("j-nifti", "s-nifti", "succeeded"),
            ("j-nofiles", "s-dicom", "succeeded"),
        ):
            session.add(
                DoseJob(id=job_id, study_id=study_id, status=status, params={}, created_by="t")
            )
        session.commit()
    with TestClient(app) as client:
        listed = client.get("/v1/dicom/destinations", headers=viewer).json()
        assert [d["url"] for d in listed] == [None, "https://pacs.example.org/dicom-web"]

        def send(job_id: str, body: dict[str, Any], headers: dict[str, str] = planner) -> Any:
            return client.post(f"/v1/dose-jobs/{job_id}/send", json=body, headers=headers)

        assert_problem(send("j-queued", SEND, viewer), 403)
        body = assert_problem(send("j-queued", {**SEND, "destination": "elsewhere"}, planner), 422)
        assert "pacs, web" in body["errors"][0]["allowed"]
        assert_problem(send("nope", SEND), 404)
        assert_problem(send("j-queued", SEND), 409)
        assert "DICOM study" in assert_problem(send("j-nifti", SEND), 422, "objects")["detail"]
        assert "no RT Dose" in assert_problem(send("j-nofiles", SEND), 422, "objects")["detail"]
        for bad in (
            {**SEND, "objects": []},
            {**SEND, "objects": ["rtdose", "rtdose"]},
            {**SEND, "objects": ["report"]},
            {"destination": "pacs", "objects": ["rtdose"], "isodose_levels_gy": [100]},
            {**SEND, "isodose_levels_gy": [0]},
            {**SEND, "isodose_levels_gy": [50, 50]},
            {**SEND, "pdf": True},
        ):
            assert_problem(send("j-queued", bad), 422)

        def import_(body: dict[str, Any]) -> Any:
            return client.post("/v1/studies/import", json=body, headers=planner)

        assert_problem(import_({"destination": "pacs", "study_instance_uid": "1.2.03"}), 422)
        assert_problem(
            import_({"destination": "pacs", "study_instance_uid": STUDY_UID, "method": "dicomweb"}),
            422,
            "method",
        )
        refused = import_(
            {"destination": "pacs", "study_instance_uid": STUDY_UID, "method": "c-move"}
        )
        assert (
            "Y90DOSE_DICOM_PORT" in assert_problem(refused, 422, "method")["errors"][0]["allowed"]
        )
        assert_problem(
            import_({"destination": "web", "study_instance_uid": STUDY_UID, "method": "c-get"}),
            422,
            "method",
        )
        assert client.get("/v1/dicom/transfers", headers=viewer).json()["total"] == 0


def test_a_send_to_an_unreachable_peer_fails_after_its_tries(make_settings: Any) -> None:
    """No connection is transient: tried dicom_send_max_attempts times, then failed."""
    port = free_port()
    unreachable = [{**DESTINATIONS[0], "port": port}]
    app = create_app(
        make_settings(
            dicom_destinations=unreachable,
            dicom_send_max_attempts=3,
            dicom_retry_delay_seconds=0.05,
            dicom_timeout_seconds=2,
        )
    )
    key = {"X-API-Key": add_key(app, "planner", "planner")}
    with TestClient(app) as client:
        response = client.post(
            "/v1/studies/import",
            json={"destination": "pacs", "study_instance_uid": STUDY_UID},
            headers=key,
        )
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 30
        while (body := client.get(response.headers["location"], headers=key).json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert body["status"] == "failed"
    assert body["params"] == {"study_instance_uid": STUDY_UID, "method": "c-get"}
    assert body["attempts"] == 3
    assert body["message"].startswith(f"no association with PACS at 127.0.0.1:{port}")


def test_transfers_a_stop_interrupted_run_again_at_start_or_fail_out_of_tries(
    make_settings: Any,
) -> None:
    unreachable = [{**DESTINATIONS[0], "port": free_port()}]
    settings = make_settings(
        dicom_destinations=unreachable,
        dicom_send_max_attempts=2,
        dicom_retry_delay_seconds=0.05,
        dicom_timeout_seconds=2,
    )
    app = create_app(settings)
    key = {"X-API-Key": add_key(app, "approver", "approver")}
    params = {"study_instance_uid": STUDY_UID, "method": "c-get"}
    with app.state.sessionmaker() as session:
        for transfer_id, attempts in (("t-interrupted", 1), ("t-used-up", 2)):
            session.add(
                DicomTransfer(
                    id=transfer_id,
                    kind="import",
                    status="running",
                    destination="pacs",
                    params=params,
                    attempts=attempts,
                    created_by="planner",
                )
            )
        session.commit()
    with TestClient(app) as client:  # the start recovers both
        deadline = time.monotonic() + 30
        while (body := client.get("/v1/dicom/transfers/t-interrupted", headers=key).json())[
            "status"
        ] != "failed":
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        used_up = client.get("/v1/dicom/transfers/t-used-up", headers=key).json()
    assert body["attempts"] == 2  # its one try left, after the one before the stop
    assert "no association with PACS" in body["message"]
    assert used_up["status"] == "failed" and used_up["attempts"] == 2
    assert used_up["message"].startswith("interrupted by a service stop after 2 tries")


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("dicom_dose_job_rule", {"job": {"lsf": 2, "product": "resin"}}, "dicom_dose_job_rule.job"),
        ("dicom_dose_job_rule", {"job": {}, "when": "always"}, "dicom_dose_job_rule.when"),
        (
            "dicom_dose_job_rule",
            {"calling_ae_titles": ["A\\B"], "job": {}},
            "dicom_dose_job_rule.calling_ae_titles[0]",
        ),
    ],
)
def test_a_bad_dose_job_rule_stops_the_start_naming_it(
    make_settings: Any, setting: str, value: Any, field: str
) -> None:
    with pytest.raises(InputError) as caught:
        create_app(make_settings(**{setting: value}))
    assert caught.value.field.startswith(field)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("Y90DOSE_DICOM_DESTINATIONS", "[{", "valid JSON"),
        ("Y90DOSE_DICOM_DESTINATIONS", '[{"name": "a", "kind": "dimse", "host": "h"}]', "needs"),
        ("Y90DOSE_DICOM_CALLING_AE_TITLES", "[]", "non-empty"),
        ("Y90DOSE_DICOM_AE_TITLE", "MUCH-TOO-LONG-AE-TITLE", "16"),
        ("Y90DOSE_DICOM_PORT", "70000", "65535"),
    ],
)
def test_bad_dicom_environment_is_named_as_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, says: str
) -> None:
    from y90dose_service.commands import settings_for

    monkeypatch.setenv(variable, value)
    with pytest.raises(InputError) as caught:
        settings_for(tmp_path)
    assert caught.value.field.startswith(variable)
    assert says in str(caught.value)
