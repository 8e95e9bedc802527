"""DICOM networking against real peers: a ``y90dose serve`` process with its Storage SCP,
Orthanc (Debian) as the PACS, dcmtk's ``storescu`` and ``findscu`` as an independent client.

- storescu sends the liver phantom's CT series, SPECT and RTSTRUCT to the SCP: one study
  is stored (owner-only files), audited as received from ``dicom:MODALITY``, and the
  configured rule runs a dose job on it;
- the job's RT Dose (with its RT Plan) and RT Structure Set (VOIs, normal liver, isodose)
  go to Orthanc by DIMSE and by DICOMweb (STOW-RS); Orthanc's REST API and findscu find
  them, the dose read back equals the computed one, and every reference resolves to an
  instance Orthanc holds (frame of reference, study, CT slices, RT Plan);
- refused: calling and called AE titles not configured, a truncated instance, an
  association past the file limit (nothing of it stored); a send to a peer that does not
  answer is tried again, then failed;
- the study is imported back from Orthanc by DICOMweb, C-GET and C-MOVE;
- ``y90dose send`` sends files by C-STORE and STOW-RS.

Skipped without Orthanc, its DICOMweb plugin, dcmtk or the ``dicom`` extra (failed in CI,
where ``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pydicom
import pytest
from dicom_peers import ORTHANC_AE_TITLE, Orthanc, findscu_images, require_peers, running_orthanc
from dicom_peers import storescu as run_storescu
from service_server import CLI, command_env, create_key, free_port

T = TypeVar("T")

SCP_AE_TITLE = "Y90DOSE"
MODALITY_AE_TITLE = "MODALITY"
MAX_FILES = 60
"""The service's upload_max_files: the phantom study (39 files) fits, with the PET series
(76 files) it does not."""
RULE_JOB = {"activity_gbq": 2.0, "lsf": 0.08, "product": "resin", "method": "dvk"}
ISODOSE_GY = 100.0
WAIT_S = 120.0

# Hand arithmetic of the liver's mean dose (physics.md: D = C x A / M): the rule's job puts
# A x (1 - LSF) = 2 GBq x 0.92 = 1.84 GBq in the liver VOI; resin C = 49.38 J/GBq; the
# phantom liver is a 1500 mL ellipsoid of 1.03 g/mL (y90dose/phantoms/README.md) =
# 1.545 kg. Beta ranges (mean ~4 mm) are small against the liver, so nearly all of that
# energy stays in it: 49.38 x 1.84 / 1.545 = 58.81 Gy (voxelisation and the edge losses
# of a kernel: a few per cent).
LIVER_MEAN_GY_HAND = 49.38 * 2.0 * (1 - 0.08) / (1.500 * 1.03)


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    """``probe()`` until it returns something (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.2)


@dataclass
class Service:
    """The running service: base URL, a planner's headers, its SCP port and log."""

    base: str
    headers: dict[str, str]
    scp_port: int
    data_dir: Path
    log: Path

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", headers=self.headers, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=self.headers, json=body, timeout=30)

    def download(self, job_id: str, name: str) -> bytes:
        response = httpx.get(
            f"{self.base}/v1/dose-jobs/{job_id}/files/{name}", headers=self.headers, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.content

    def studies(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/v1/studies", limit=200)["items"]
        return items

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("/v1/audit-events", limit=500, **params)["items"]
        return items

    def transfer_done(self, transfer_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            body: dict[str, Any] = self.get(f"/v1/dicom/transfers/{transfer_id}")
            return body if body["status"] in ("succeeded", "failed") else None

        return wait_for(f"transfer {transfer_id}", probe)


@dataclass
class Phantom:
    """The liver phantom's DICOM files: the study sent (CT, NM, RTSTRUCT) and the rest."""

    study: Path
    pt: Path
    ct_files: list[Path]
    study_instance_uid: str
    frame_of_reference_uid: str
    ct_series_uid: str
    patient_id: str


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Phantom:
    require_peers()
    from y90dose.phantoms.export import write_dicom_set
    from y90dose.phantoms.generators import generate

    root = tmp_path_factory.mktemp("phantom")
    paths = write_dicom_set(generate("liver", spacing_mm=8.0), root)  # 45 x 32 x 37 voxels
    study = root / "study"
    study.mkdir()
    shutil.copytree(paths["ct"], study / "ct")
    shutil.copy(paths["nm"], study / "NM_SPECT.dcm")
    shutil.copy(paths["rtstruct"], study / "RS.dcm")
    ct_files = sorted((study / "ct").glob("*.dcm"))
    first = pydicom.dcmread(ct_files[0], stop_before_pixels=True)
    return Phantom(
        study,
        paths["pt"],
        ct_files,
        str(first.StudyInstanceUID),
        str(first.FrameOfReferenceUID),
        str(first.SeriesInstanceUID),
        str(first.PatientID),
    )


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("scp", "pacs", "pacs_http", "nowhere")}


@pytest.fixture(scope="module")
def pacs(
    tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int], phantom: Phantom
) -> Iterator[Orthanc]:
    """Orthanc, knowing the service's SCP as a C-MOVE destination, holding the phantom."""
    with running_orthanc(
        tmp_path_factory.mktemp("orthanc"),
        ports["pacs"],
        ports["pacs_http"],
        {"y90dose": [SCP_AE_TITLE, "127.0.0.1", ports["scp"]]},
    ) as orthanc:
        sent = run_storescu(ports["pacs"], ORTHANC_AE_TITLE, MODALITY_AE_TITLE, phantom.study)
        assert sent.returncode == 0, sent.stderr
        yield orthanc


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int], pacs: Orthanc
) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("service") / "data"
    env = command_env(
        f"sqlite:///{data_dir / 'y90dose.sqlite3'}",
        dicom_port=str(ports["scp"]),
        dicom_calling_ae_titles=json.dumps([MODALITY_AE_TITLE, ORTHANC_AE_TITLE]),
        dicom_destinations=json.dumps(
            [
                {
                    "name": "orthanc",
                    "kind": "dimse",
                    "host": "127.0.0.1",
                    "port": pacs.dicom_port,
                    "ae_title": ORTHANC_AE_TITLE,
                },
                {"name": "orthanc-web", "kind": "dicomweb", "url": pacs.dicomweb},
                {
                    "name": "nowhere",
                    "kind": "dimse",
                    "host": "127.0.0.1",
                    "port": ports["nowhere"],
                    "ae_title": "NOBODY",
                },
            ]
        ),
        dicom_dose_job_rule=json.dumps(
            {"calling_ae_titles": [MODALITY_AE_TITLE], "job": {**RULE_JOB, "write_pngs": False}}
        ),
        dicom_send_max_attempts="2",
        dicom_retry_delay_seconds="0.2",
        dicom_timeout_seconds="20",
        upload_max_files=str(MAX_FILES),
    )
    headers = create_key(data_dir, env, "physicist", "approver")  # approvers read the audit
    port = free_port()
    log = data_dir.parent / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool | None:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200 or None
        except httpx.TransportError:
            return None

    try:
        wait_for("the service's start", healthy, 60)
        yield Service(base, headers, ports["scp"], data_dir, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Received:
    """The study storescu sent and the dose job the rule ran on it."""

    study: dict[str, Any]
    job: dict[str, Any]


@pytest.fixture(scope="module")
def received(service: Service, phantom: Phantom) -> Received:
    before = {s["id"] for s in service.studies()}
    sent = run_storescu(service.scp_port, SCP_AE_TITLE, MODALITY_AE_TITLE, phantom.study)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    study = wait_for(
        "the received study",
        lambda: next((s for s in service.studies() if s["id"] not in before), None),
    )

    def finished() -> dict[str, Any] | None:
        jobs = service.get("/v1/dose-jobs", study_id=study["id"])["items"]
        done = [j for j in jobs if j["status"] in ("succeeded", "failed")]
        return done[0] if done else None

    job = wait_for("the rule's dose job", finished)
    assert job["status"] == "succeeded", job["message"]
    return Received(service.get(f"/v1/studies/{study['id']}"), job)


def test_storescu_study_is_stored_whole_owner_only_audited_and_starts_the_rule_s_job(
    service: Service, phantom: Phantom, received: Received
) -> None:
    study = received.study
    assert study["kind"] == "dicom"
    assert study["created_by"] == f"dicom:{MODALITY_AE_TITLE}"
    assert study["file_count"] == len(phantom.ct_files) + 2 == 39
    series = {s["modality"]: s for s in study["summary"]["series"]}
    assert set(series) == {"CT", "NM", "RTSTRUCT"}
    assert series["CT"]["files"] == 37 and series["CT"]["series_instance_uid"] == (
        phantom.ct_series_uid
    )
    assert study["summary"]["source"] == {"protocol": "dicom", "calling_ae_title": "MODALITY"}
    assert study["summary"]["dose_inputs"]["usable"] is True
    assert study["summary"]["dose_job"] == {"id": received.job["id"], "rule": "dicom_dose_job_rule"}
    assert received.job["params"]["lsf"] == 0.08 and received.job["params"]["method"] == "dvk"

    folder = service.data_dir / "studies" / study["id"]
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert list((service.data_dir / "incoming").iterdir()) == []  # nothing left waiting

    events = {(e["action"], e["key_name"]): e for e in service.audit()}
    receive = events[("study.receive", "dicom:MODALITY")]
    assert receive["resource_id"] == study["id"]
    assert receive["detail"] == {"calling_ae_title": "MODALITY", "files": 39, "kind": "dicom"}
    created = events[("job.create", "dicom:MODALITY")]
    assert created["detail"] == {"study_id": study["id"], "rule": "dicom_dose_job_rule"}


def _orthanc_copy(pacs: Orthanc, sop_instance_uid: str, folder: Path) -> Path:
    orthanc_id = pacs.find_instance(sop_instance_uid)
    assert orthanc_id is not None, f"Orthanc has no instance {sop_instance_uid}"
    path = folder / f"{sop_instance_uid}.dcm"
    path.write_bytes(pacs.instance_file(orthanc_id))
    return path


def _check_sent(
    service: Service,
    pacs: Orthanc,
    phantom: Phantom,
    received: Received,
    transfer: dict[str, Any],
    folder: Path,
) -> None:
    """What Orthanc holds of a send: the dose as computed, every reference resolved."""
    from y90dose.imaging.read import read_image, read_sitk_file
    from y90dose.imaging.rtstruct import read_rtstruct
    from y90dose.pipeline.inputs import read_ct

    assert transfer["status"] == "succeeded", transfer["message"]
    assert transfer["attempts"] == 1
    sent = {item["object"]: item for item in transfer["result"]["instances"]}
    assert set(sent) == {"rtdose", "rtplan", "rtstruct"}
    assert all(item["status"] == "stored" for item in sent.values())
    files = {
        name: _orthanc_copy(pacs, item["sop_instance_uid"], folder) for name, item in sent.items()
    }
    dose_ds = pydicom.dcmread(files["rtdose"])
    plan_ds = pydicom.dcmread(files["rtplan"])
    rs_ds = pydicom.dcmread(files["rtstruct"])

    # the dose read back is the one computed: bit for bit the job's RT Dose, and within
    # half a DoseGridScaling step of the job's floating-point dose on the CT grid
    job_id = received.job["id"]
    computed = pydicom.dcmread(
        pydicom.filebase.DicomBytesIO(service.download(job_id, "rtdose_on_ct.dcm"))
    )
    assert dose_ds.PixelData == computed.PixelData
    (folder / "dose_on_ct.nii.gz").write_bytes(service.download(job_id, "dose_on_ct_gy.nii.gz"))
    dose_nifti = read_sitk_file(folder / "dose_on_ct.nii.gz")
    dose = read_image(files["rtdose"])
    assert dose.units == "GY"
    step = float(dose_ds.DoseGridScaling)
    peak = float(dose_nifti.array.max())
    assert np.abs(dose.array - dose_nifti.array).max() <= step / 2 + 1e-6 * peak

    # references: every UID resolves to what Orthanc holds of the patient's study
    for ds in (dose_ds, plan_ds, rs_ds):
        assert ds.StudyInstanceUID == phantom.study_instance_uid
        assert ds.PatientID == phantom.patient_id
    assert dose_ds.FrameOfReferenceUID == phantom.frame_of_reference_uid
    assert dose_ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan_ds.SOPInstanceUID
    frame = rs_ds.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == phantom.frame_of_reference_uid
    study_ref = frame.RTReferencedStudySequence[0]
    assert study_ref.ReferencedSOPInstanceUID == phantom.study_instance_uid
    series_ref = study_ref.RTReferencedSeriesSequence[0]
    assert series_ref.SeriesInstanceUID == phantom.ct_series_uid
    referenced_slices = {item.ReferencedSOPInstanceUID for item in series_ref.ContourImageSequence}
    ct_uids = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in phantom.ct_files
    }
    assert referenced_slices == ct_uids
    assert all(pacs.find_instance(uid) is not None for uid in referenced_slices)
    in_study = {
        i["MainDicomTags"]["SOPInstanceUID"]
        for i in pacs.study_instances(phantom.study_instance_uid)
    }
    assert {dose_ds.SOPInstanceUID, plan_ds.SOPInstanceUID, rs_ds.SOPInstanceUID} <= in_study

    # the structure set: the VOIs used, normal liver = liver minus the tumours, isodose =
    # the RT Dose sent at or above its level (on the CT the structure set references)
    ct = read_ct(phantom.study / "ct")
    assert ct.grid.same_geometry(dose.grid)  # the RT Dose sent is on the CT grid
    vois = read_rtstruct(files["rtstruct"], ct)
    original = read_rtstruct(phantom.study / "RS.dcm", ct)
    tumours = ["tumor1", "tumor2", "tumor3"]
    assert set(vois) == {*original, "normal_liver", "tumors", f"isodose {ISODOSE_GY:g} Gy"}
    for name in original:
        assert np.array_equal(vois[name], original[name]), name
    union = vois["tumor1"] | vois["tumor2"] | vois["tumor3"]
    assert np.array_equal(vois["tumors"], union)
    assert np.array_equal(vois["normal_liver"], vois["liver"] & ~union)
    assert np.array_equal(vois[f"isodose {ISODOSE_GY:g} Gy"], dose.array >= ISODOSE_GY)
    types = {
        roi.ReferencedROINumber: roi.RTROIInterpretedType for roi in rs_ds.RTROIObservationsSequence
    }
    numbers = {roi.ROIName: roi.ROINumber for roi in rs_ds.StructureSetROISequence}
    assert [types[numbers[t]] for t in tumours] == ["GTV"] * 3
    assert types[numbers[f"isodose {ISODOSE_GY:g} Gy"]] == "DOSE_REGION"

    # the liver's mean dose from what Orthanc holds: the job's metric, and the hand value
    liver_mean_gy = float(dose.array[vois["liver"]].mean())
    metric = received.job["result"]["metrics"]["liver"]["mean_gy"]
    assert liver_mean_gy == pytest.approx(metric, rel=1e-4)
    assert liver_mean_gy == pytest.approx(LIVER_MEAN_GY_HAND, rel=0.03)

    # findscu, the independent client, finds the sent objects in the PACS
    found = {
        m["SOPInstanceUID"]: m
        for m in findscu_images(pacs.dicom_port, ORTHANC_AE_TITLE, phantom.study_instance_uid)
    }
    assert found[dose_ds.SOPInstanceUID]["SOPClassUID"] == "RTDoseStorage"
    assert found[rs_ds.SOPInstanceUID]["SOPClassUID"] == "RTStructureSetStorage"

    for ds in (dose_ds, plan_ds, rs_ds):  # the PACS as it was, for the next send
        orthanc_id = pacs.find_instance(str(ds.SOPInstanceUID))
        assert orthanc_id is not None
        pacs.delete_instance(orthanc_id)


@pytest.mark.parametrize("destination", ["orthanc", "orthanc-web"])
def test_dose_and_structure_set_reach_orthanc_whole_with_every_reference(
    destination: str,
    service: Service,
    pacs: Orthanc,
    phantom: Phantom,
    received: Received,
    tmp_path: Path,
) -> None:
    response = service.post(
        f"/v1/dose-jobs/{received.job['id']}/send",
        {
            "destination": destination,
            "objects": ["rtdose", "rtstruct"],
            "isodose_levels_gy": [ISODOSE_GY],
        },
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/dicom/transfers/{response.json()['id']}"
    transfer = service.transfer_done(response.json()["id"])
    assert transfer["result"]["protocol"] == ("dimse" if destination == "orthanc" else "dicomweb")
    _check_sent(service, pacs, phantom, received, transfer, tmp_path)
    events = service.audit(resource_id=transfer["id"])
    assert [e["action"] for e in events] == ["dicom.send_succeeded", "dicom.send"]
    assert events[1]["detail"] == {
        "dose_job_id": received.job["id"],
        "destination": destination,
        "objects": ["rtdose", "rtstruct"],
    }


def test_a_send_the_peer_does_not_answer_is_tried_again_then_failed(
    service: Service, received: Received
) -> None:
    response = service.post(
        f"/v1/dose-jobs/{received.job['id']}/send",
        {"destination": "nowhere", "objects": ["rtdose"]},
    )
    assert response.status_code == 202, response.text
    transfer = service.transfer_done(response.json()["id"])
    assert transfer["status"] == "failed"
    assert transfer["attempts"] == 2  # dicom_send_max_attempts
    assert "connection refused or no answer" in transfer["message"]
    assert "after 2 tries" in transfer["message"]
    failed = service.audit(resource_id=transfer["id"])[0]
    assert failed["action"] == "dicom.send_failed"
    assert failed["detail"]["attempts"] == 2


def test_an_isodose_level_the_dose_does_not_reach_fails_the_send_naming_it(
    service: Service, received: Received
) -> None:
    response = service.post(
        f"/v1/dose-jobs/{received.job['id']}/send",
        {"destination": "orthanc", "objects": ["rtstruct"], "isodose_levels_gy": [50, 100000]},
    )
    transfer = service.transfer_done(response.json()["id"])
    assert transfer["status"] == "failed"
    assert transfer["attempts"] == 0  # refused before anything was sent
    assert transfer["message"].startswith("isodose_levels_gy[1]: 100000.0 is not allowed")
    assert "maximum is" in transfer["message"]
    assert str(service.data_dir) not in transfer["message"]


def test_unknown_or_refused_peers_and_bad_instances_store_nothing(
    service: Service, phantom: Phantom, tmp_path: Path
) -> None:
    studies = len(service.studies())
    # a calling AE title that is not configured, and another called AE title: rejected
    intruder = run_storescu(service.scp_port, SCP_AE_TITLE, "INTRUDER", phantom.study / "RS.dcm")
    assert intruder.returncode != 0
    assert "Association Rejected" in intruder.stdout + intruder.stderr
    misaddressed = run_storescu(
        service.scp_port, "OTHER", MODALITY_AE_TITLE, phantom.study / "RS.dcm"
    )
    assert misaddressed.returncode != 0
    log = service.log.read_text()
    assert "DICOM association refused: calling AE title 'INTRUDER'" in log
    assert "called 'OTHER'" in log

    # an instance whose pixel data is shorter than its header says: refused (0xC000)
    ds = pydicom.dcmread(phantom.ct_files[0])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    (tmp_path / "cut").mkdir()
    ds.save_as(tmp_path / "cut" / "CT_cut.dcm", enforce_file_format=True)
    cut = run_storescu(service.scp_port, SCP_AE_TITLE, MODALITY_AE_TITLE, tmp_path / "cut")
    assert "Received Store Response (Error: CannotUnderstand)" in cut.stderr  # 0xC000

    # past upload_max_files in one association: refused from the 61st on (0xA700)
    too_many = run_storescu(
        service.scp_port, SCP_AE_TITLE, MODALITY_AE_TITLE, phantom.study, phantom.pt
    )
    responses = [line for line in too_many.stderr.splitlines() if "Store Response" in line]
    assert len(responses) == MAX_FILES + 1  # storescu stops at the first refusal
    assert all("Success" in line for line in responses[:MAX_FILES]), responses[:MAX_FILES]
    assert "Refused: OutOfResources" in responses[MAX_FILES], responses[MAX_FILES]  # 0xA700

    time.sleep(1.0)  # the store thread handles each association after its release
    assert len(service.studies()) == studies
    refused = [e for e in service.audit() if e["action"] == "study.receive_refused"]
    reasons = [e["detail"]["reason"] for e in refused]
    assert any("the file is truncated or damaged" in r for r in reasons), reasons
    assert any(f"more than {MAX_FILES} instances" in r for r in reasons), reasons
    assert all(str(service.data_dir) not in r for r in reasons)
    assert list((service.data_dir / "incoming").iterdir()) == []


@pytest.mark.parametrize("method", ["dicomweb", "c-get", "c-move"])
def test_a_study_is_imported_from_orthanc(
    method: str, service: Service, pacs: Orthanc, phantom: Phantom
) -> None:
    destination = "orthanc-web" if method == "dicomweb" else "orthanc"
    held = pacs.study_instances(phantom.study_instance_uid)
    response = service.post(
        "/v1/studies/import",
        {
            "destination": destination,
            "study_instance_uid": phantom.study_instance_uid,
            "method": method,
        },
    )
    assert response.status_code == 202, response.text
    transfer = service.transfer_done(response.json()["id"])
    assert transfer["status"] == "succeeded", transfer["message"]
    study = service.get(f"/v1/studies/{transfer['study_id']}")
    assert study["file_count"] == len(held) == transfer["result"]["instances"]
    assert transfer["result"]["retrieval"]["completed"] == len(held)
    assert transfer["result"]["warnings"] == []
    series = {s["series_instance_uid"]: s["files"] for s in study["summary"]["series"]}
    assert series[phantom.ct_series_uid] == 37
    assert study["summary"]["source"] == {
        "protocol": method,
        "destination": destination,
        "transfer_id": transfer["id"],
    }
    assert study["summary"]["dose_inputs"]["usable"] is True
    assert study["created_by"] == "physicist"
    assert "dose_job" not in study["summary"]  # the rule is for studies sent to the SCP
    stored = service.audit(resource_id=study["id"])
    assert [e["action"] for e in stored] == ["study.import"]
    assert stored[0]["detail"]["method"] == method


def test_cli_sends_files_by_c_store_and_stow_rs(
    service: Service,
    pacs: Orthanc,
    received: Received,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from y90dose.cli.main import main

    path = tmp_path / "RD.dcm"
    path.write_bytes(service.download(received.job["id"], "rtdose.dcm"))
    uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
    (tmp_path / "notes.txt").write_text("not DICOM")
    for how in (
        ["--to", f"127.0.0.1:{pacs.dicom_port}", "--ae-title", ORTHANC_AE_TITLE],
        ["--dicomweb", pacs.dicomweb],
    ):
        capsys.readouterr()
        assert main(["send", *how, str(tmp_path), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["sent"], report["failed"]) == (1, 0)
        assert report["instances"][0]["sop_instance_uid"] == uid
        assert report["skipped_not_dicom"] == [str(tmp_path / "notes.txt")]
        orthanc_id = pacs.find_instance(uid)
        assert orthanc_id is not None
        held = pydicom.dcmread(pydicom.filebase.DicomBytesIO(pacs.instance_file(orthanc_id)))
        assert held.PixelData == pydicom.dcmread(path).PixelData
        pacs.delete_instance(orthanc_id)
    called = ["send", "--to", f"127.0.0.1:{pacs.dicom_port}", "--ae-title", "NOT-ORTHANC"]
    assert main([*called, str(path)]) == 2  # Orthanc checks the called AE title
    assert "rejected the association (permanent)" in capsys.readouterr().err
