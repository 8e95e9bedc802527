"""``y90dose.dicomnet`` without a peer: destinations, AE titles and UIDs refused with the
field named, files checked before any connection, a closed port reported as transient.

Sends and retrievals against Orthanc: ``tests/service/test_service_dicom_peers.py``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from y90dose.dicomnet import Destination, check_ae_title, check_uid, parse_host_port, send_files
from y90dose.dicomnet.destinations import shown_url
from y90dose.dicomnet.send import dicom_files
from y90dose.dicomnet.sop_classes import MAX_PRESENTATION_CONTEXTS, STORAGE_SOP_CLASSES
from y90dose.errors import DicomNetworkError, InputError

PACS = {"name": "pacs", "kind": "dimse", "host": "10.0.0.5", "port": 104, "ae_title": "PACS"}


@pytest.mark.parametrize("title", ["Y90DOSE", "A", "PACS 1", "X" * 16, "a-b_c.d"])
def test_valid_ae_titles(title: str) -> None:
    assert check_ae_title(title) == title


@pytest.mark.parametrize("title", ["", " ", "X" * 17, "A\\B", " PACS", "PACS ", "TAB\tX", "ÄE"])
def test_invalid_ae_titles_are_refused_naming_the_field(title: str) -> None:
    with pytest.raises(InputError) as caught:
        check_ae_title(title, "calling_ae_title")
    assert caught.value.field == "calling_ae_title"


@pytest.mark.parametrize("uid", ["1.2.3", "1.2.840.10008.5.1.4.1.1.2", "0.1", "2.25." + "9" * 59])
def test_valid_uids(uid: str) -> None:
    assert check_uid(uid, "uid") == uid


@pytest.mark.parametrize(
    "uid", ["", "1..2", "1.02", ".1", "1.", "1.2.a", "2.25." + "9" * 60, "1.2 ", "../1"]
)
def test_invalid_uids_are_refused(uid: str) -> None:
    with pytest.raises(InputError) as caught:
        check_uid(uid, "study_instance_uid")
    assert caught.value.field == "study_instance_uid"


def test_host_port() -> None:
    assert parse_host_port("pacs:104") == ("pacs", 104)
    assert parse_host_port("[::1]:11112") == ("::1", 11112)
    for bad in ("pacs", "pacs:", ":104", "pacs:0", "pacs:65536", "pacs:x"):
        with pytest.raises(InputError):
            parse_host_port(bad)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({**PACS, "ae_title": None}, "needs ae_title"),
        ({**PACS, "url": "http://pacs/dicom-web"}, "has no url"),
        ({"name": "w", "kind": "dicomweb"}, "needs url"),
        ({"name": "w", "kind": "dicomweb", "url": "http://x", "port": 1}, "has no port"),
        ({"name": "w", "kind": "dicomweb", "url": "ftp://x"}, "http://"),
        ({**PACS, "port": 0}, "greater than or equal to 1"),
        ({**PACS, "kind": "wado"}, "'dimse' or 'dicomweb'"),
        ({**PACS, "name": "../x"}, "pattern"),
        ({**PACS, "host": "pacs; rm -rf"}, "host name"),
        ({**PACS, "ae_title": "A\\B"}, "no backslash"),
        ({**PACS, "password": "x"}, "Extra inputs"),
    ],
)
def test_a_destination_refuses_fields_of_the_other_kind_or_bad_values(
    fields: dict[str, object], says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Destination.model_validate(fields)
    assert says in str(caught.value)


def test_a_url_is_shown_without_its_credentials() -> None:
    web = Destination(name="w", kind="dicomweb", url="https://me:s3cret@pacs:8443/dicom-web")
    assert web.peer == "https://pacs:8443/dicom-web"
    assert shown_url("http://pacs/dicom-web") == "http://pacs/dicom-web"


def test_the_accepted_sop_classes_fit_one_association_request() -> None:
    """C-GET proposes every storage SOP class and the GET model in one request."""
    assert len(STORAGE_SOP_CLASSES) + 1 <= MAX_PRESENTATION_CONTEXTS


def test_files_are_checked_before_any_connection(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not DICOM")
    pacs = Destination.model_validate(PACS)  # 10.0.0.5: never reached
    with pytest.raises(InputError) as caught:
        send_files([tmp_path / "notes.txt"], pacs)
    assert caught.value.field == "files"
    with pytest.raises(InputError):
        send_files([], pacs)
    with pytest.raises(InputError):
        dicom_files([tmp_path / "missing.dcm"])
    found, skipped = dicom_files([tmp_path])
    assert found == [] and skipped == [tmp_path / "notes.txt"]


def test_a_closed_port_is_a_transient_failure(tmp_path: Path) -> None:
    pytest.importorskip("pynetdicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "RS.dcm", enforce_file_format=True)
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        closed = Destination(name="c", kind="dimse", host="127.0.0.1", port=port, ae_title="C")
        with pytest.raises(DicomNetworkError) as caught:
            send_files([tmp_path / "RS.dcm"], closed, timeout_s=5)
    assert caught.value.transient
    assert f"127.0.0.1:{port}" in str(caught.value)
