"""Retrieve a study from a destination: C-GET, C-MOVE (pynetdicom) or DICOMweb.

- :func:`retrieve_cget`: the instances come back on our own association (C-STORE
  sub-operations, SCP/SCU role selection); each is handed to ``store``.
- :func:`request_cmove`: asks the peer to send the study to an AE title it knows (the
  service's Storage SCP); the instances arrive on the peer's own association, not here.
- :func:`retrieve_dicomweb`: QIDO-RS finds the study's series, WADO-RS retrieves each
  series' instances, each handed to ``store``.

``store(encoded) -> status`` takes one instance as DICOM Part 10 bytes and answers with a
C-STORE status (0x0000 taken; 0xA700 out of resources, 0xC000 cannot understand...). The
receiver decides what it accepts; the functions here only count.

Needs the ``dicom`` extra (``pip install 'y90dose[dicom]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from y90dose.dicomnet.destinations import DEFAULT_AE_TITLE, Destination, check_ae_title, check_uid
from y90dose.dicomnet.send import (
    DEFAULT_TIMEOUT_S,
    association_failure,
    dicomweb_client,
    extra_missing,
    http_failure,
)
from y90dose.dicomnet.sop_classes import (
    STORAGE_SOP_CLASSES,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    UNCOMPRESSED_TRANSFER_SYNTAXES,
)
from y90dose.errors import DicomNetworkError

StoreFn = Callable[[bytes], int]
"""Takes one instance (DICOM Part 10 bytes); returns a C-STORE status (0 = taken)."""

PENDING = (0xFF00, 0xFF01)
SUCCESS = 0x0000
RETRIEVE_WARNING = 0xB000
"""C-GET/C-MOVE final status: some sub-operations failed or had warnings (PS3.4 C.4.2)."""


@dataclass(frozen=True)
class RetrieveReport:
    """How a retrieval went: sub-operations completed, failed and with warnings."""

    destination: str
    protocol: str
    completed: int
    failed: int
    warning: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "destination": self.destination,
            "protocol": self.protocol,
            "completed": self.completed,
            "failed": self.failed,
            "warning": self.warning,
            "detail": self.detail,
        }


def _query(study_instance_uid: str) -> Any:
    from pydicom.dataset import Dataset

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_instance_uid
    return query


def _count(status: Any, keyword: str) -> int:
    value = status.get(keyword) if status is not None else None
    return int(value) if value not in (None, "") else 0


def _final_report(final: Any, destination: Destination, protocol: str, what: str) -> RetrieveReport:
    """The report of a C-GET/C-MOVE final response; DicomNetworkError when it failed."""
    if final is None:
        raise DicomNetworkError(
            f"{destination.peer} did not answer the {what} (timeout or connection broken)",
            transient=True,
        )
    code = int(final.Status)
    report = RetrieveReport(
        destination.peer,
        protocol,
        _count(final, "NumberOfCompletedSuboperations"),
        _count(final, "NumberOfFailedSuboperations"),
        _count(final, "NumberOfWarningSuboperations"),
        str(final.get("ErrorComment", "") or ""),
    )
    if code in (SUCCESS, RETRIEVE_WARNING):
        return report
    transient = (code & 0xFF00) == 0xA700
    meaning = {
        0xA701: "out of resources (unable to calculate the number of matches)",
        0xA702: "out of resources (unable to perform sub-operations)",
        0xA801: "move destination unknown: the peer does not know our Storage SCP's AE title",
        0xA900: "the identifier does not match the SOP class",
        0xFE00: "cancelled",
    }.get(code, "unable to process")
    raise DicomNetworkError(
        f"{destination.peer} answered the {what} with status 0x{code:04X}: {meaning}"
        + (f" ({report.detail})" if report.detail else ""),
        transient=transient,
    )


def _association(
    destination: Destination, calling_ae_title: str, timeout_s: float, contexts: Any, **kwargs: Any
) -> Any:
    try:
        from pynetdicom import AE
    except ImportError as exc:
        raise extra_missing("retrieving by DIMSE", exc) from None
    check_ae_title(calling_ae_title, "calling_ae_title")
    if destination.kind != "dimse":
        raise DicomNetworkError(
            f"destination {destination.name!r} is DICOMweb; C-GET and C-MOVE need a 'dimse' one",
            transient=False,
        )
    ae = AE(ae_title=calling_ae_title)
    for timeout in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, timeout, timeout_s)
    for sop_class, syntaxes in contexts:
        ae.add_requested_context(sop_class, syntaxes)
    assert destination.host is not None and destination.port is not None
    assoc = ae.associate(
        destination.host, destination.port, ae_title=str(destination.ae_title), **kwargs
    )
    if not assoc.is_established:
        raise association_failure(assoc, destination)
    return assoc


def retrieve_cget(
    destination: Destination,
    study_instance_uid: str,
    store: StoreFn,
    *,
    calling_ae_title: str = DEFAULT_AE_TITLE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RetrieveReport:
    """Retrieve a study by C-GET (Study Root); each instance goes to ``store``.

    Raises
    ------
    InputError
        The UID or AE title is invalid.
    DicomNetworkError
        No association, or the peer's final status is a failure (``transient`` when it
        was out of resources or did not answer).
    """
    try:
        from pynetdicom import build_role, evt
    except ImportError as exc:
        raise extra_missing("retrieving by C-GET", exc) from None
    check_uid(study_instance_uid, "study_instance_uid")

    def on_store(event: Any) -> int:
        return store(event.encoded_dataset())

    contexts = [(STUDY_ROOT_GET, None)] + [
        (uid, list(UNCOMPRESSED_TRANSFER_SYNTAXES)) for uid in STORAGE_SOP_CLASSES
    ]
    assoc = _association(
        destination,
        calling_ae_title,
        timeout_s,
        contexts,
        ext_neg=[build_role(uid, scp_role=True) for uid in STORAGE_SOP_CLASSES],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    final = None
    try:
        for status, _identifier in assoc.send_c_get(_query(study_instance_uid), STUDY_ROOT_GET):
            if not status:  # no answer within the timeout
                break
            if int(status.Status) not in PENDING:
                final = status
    finally:
        if assoc.is_established:
            assoc.release()
    return _final_report(final, destination, "c-get", "C-GET")


def request_cmove(
    destination: Destination,
    study_instance_uid: str,
    move_destination_ae_title: str,
    *,
    calling_ae_title: str = DEFAULT_AE_TITLE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RetrieveReport:
    """Ask ``destination`` to send a study to ``move_destination_ae_title`` (C-MOVE).

    The peer must know that AE title (its host and port); the instances arrive on the
    peer's own association with that AE, not here. Returns when the peer sends its final
    response (after its sub-operations).

    Raises
    ------
    InputError
        A UID or AE title is invalid.
    DicomNetworkError
        No association, or the final status is a failure (0xA801: the peer does not know
        the move destination).
    """
    check_uid(study_instance_uid, "study_instance_uid")
    check_ae_title(move_destination_ae_title, "move_destination_ae_title")
    assoc = _association(destination, calling_ae_title, timeout_s, [(STUDY_ROOT_MOVE, None)])
    final = None
    try:
        responses = assoc.send_c_move(
            _query(study_instance_uid), move_destination_ae_title, STUDY_ROOT_MOVE
        )
        for status, _identifier in responses:
            if not status:
                break
            if int(status.Status) not in PENDING:
                final = status
    finally:
        if assoc.is_established:
            assoc.release()
    return _final_report(final, destination, "c-move", "C-MOVE")


def encode_part10(dataset: Any) -> bytes:
    """A pydicom dataset as DICOM Part 10 bytes (file meta added when missing)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = getattr(dataset, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _series_uids(found: list[dict[str, Any]]) -> list[str]:
    uids = []
    for series in found:
        value = (series.get("0020000E") or {}).get("Value") or []
        if value:
            uids.append(str(value[0]))
    return uids


def retrieve_dicomweb(
    destination: Destination,
    study_instance_uid: str,
    store: StoreFn,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RetrieveReport:
    """Retrieve a study by DICOMweb: QIDO-RS for its series, WADO-RS for their instances.

    Stops at the first instance ``store`` refuses (counted as failed).

    Raises
    ------
    InputError
        The UID is invalid.
    DicomNetworkError
        The server could not be reached or answered with an error, or it has no series
        of the study.
    """
    check_uid(study_instance_uid, "study_instance_uid")
    if destination.kind != "dicomweb":
        raise DicomNetworkError(
            f"destination {destination.name!r} is DIMSE; DICOMweb needs a 'dicomweb' one",
            transient=False,
        )
    client = dicomweb_client(destination, timeout_s)
    try:
        series = _series_uids(client.search_for_series(study_instance_uid=study_instance_uid))
    except Exception as exc:
        raise http_failure(exc, "QIDO-RS (search for series)", destination.peer) from None
    if not series:
        raise DicomNetworkError(
            f"{destination.peer} has no series of study {study_instance_uid} (QIDO-RS)",
            transient=False,
        )
    completed = 0
    for series_uid in series:
        try:
            for dataset in client.iter_series(study_instance_uid, series_uid):
                status = store(encode_part10(dataset))
                if status != SUCCESS:
                    return RetrieveReport(
                        destination.peer,
                        "dicomweb",
                        completed,
                        1,
                        0,
                        f"an instance was refused (status 0x{status:04X}); retrieval stopped",
                    )
                completed += 1
        except DicomNetworkError:
            raise
        except Exception as exc:
            raise http_failure(exc, "WADO-RS (retrieve series)", destination.peer) from None
    return RetrieveReport(destination.peer, "dicomweb", completed, 0, 0)
