"""Send DICOM files to a destination: C-STORE (pynetdicom) or STOW-RS (dicomweb-client).

:func:`send_files` sends every file over one association (or one STOW-RS request) and
returns a :class:`SendReport` with each instance's outcome. A peer that cannot be
reached or refuses the association raises :class:`~y90dose.errors.DicomNetworkError`,
whose ``transient`` says whether trying again later may help; an instance the peer
refuses is a failed item of the report, transient when the peer was out of resources
(C-STORE status 0xA7xx, HTTP 5xx/408/429). Sending an instance twice is harmless: a
PACS keeps one copy per SOP Instance UID.

Needs the ``dicom`` extra (``pip install 'y90dose[dicom]'``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from y90dose.dicomnet.destinations import DEFAULT_AE_TITLE, Destination, check_ae_title
from y90dose.dicomnet.sop_classes import MAX_PRESENTATION_CONTEXTS
from y90dose.errors import DicomNetworkError, InputError

DEFAULT_TIMEOUT_S = 30.0
"""Seconds a connection, an association answer or a DIMSE/HTTP response may take."""

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"

STORE_WARNINGS = (0x0001, 0xB000, 0xB006, 0xB007)
"""C-STORE warning statuses (stored, with coercion or elements discarded): PS3.4 B.2.3."""


def extra_missing(what: str, exc: ImportError) -> DicomNetworkError:
    """The error when the ``dicom`` extra is not installed."""
    return DicomNetworkError(
        f"{what} needs the 'dicom' extra ({exc.name or exc}): pip install 'y90dose[dicom]'",
        transient=False,
    )


@dataclass(frozen=True)
class InstanceOutcome:
    """What the peer said about one instance."""

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    status: str
    """``"stored"``, ``"warning"`` (stored, the peer changed something) or ``"failed"``."""
    detail: str = ""
    transient: bool = False
    """For a failed instance: whether the peer may take it later (out of resources)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "path": self.path,
            "sop_class_uid": self.sop_class_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SendReport:
    """The outcome of :func:`send_files`."""

    destination: str
    protocol: str
    instances: tuple[InstanceOutcome, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> list[InstanceOutcome]:
        """The instances the peer did not take."""
        return [i for i in self.instances if i.status == "failed"]

    @property
    def transient(self) -> bool:
        """True when every failure may succeed on a later try (none is permanent)."""
        return bool(self.failed) and all(i.transient for i in self.failed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: destination, protocol, counts and each instance."""
        return {
            "destination": self.destination,
            "protocol": self.protocol,
            "sent": len(self.instances) - len(self.failed),
            "failed": len(self.failed),
            "instances": [i.to_dict() for i in self.instances],
        }


@dataclass(frozen=True)
class _File:
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


def dicom_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """The DICOM files among ``paths`` (folders searched recursively), and the other
    files found inside those folders (not DICOM: no ``DICM`` prefix at byte 128).

    Raises
    ------
    InputError
        (``files``) A path that does not exist, or a file named directly that is not DICOM.
    """
    found: list[Path] = []
    skipped: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
                (found if _has_dicom_prefix(candidate) else skipped).append(candidate)
        elif path.is_file():
            if not _has_dicom_prefix(path):
                raise InputError("files", str(path), "DICOM files (Part 10: 'DICM' at byte 128)")
            found.append(path)
        else:
            raise InputError("files", str(path), "existing DICOM files or folders")
    return found, skipped


def _has_dicom_prefix(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _headers(paths: Sequence[Path]) -> list[_File]:
    import pydicom

    files = []
    for path in paths:
        try:
            meta = pydicom.filereader.read_file_meta_info(path)
            sop_class = str(meta.MediaStorageSOPClassUID)
            sop_instance = str(meta.MediaStorageSOPInstanceUID)
            syntax = str(meta.TransferSyntaxUID)
        except Exception as exc:  # pydicom raises many kinds on untrusted bytes
            raise InputError(
                "files",
                str(path),
                f"DICOM files with file meta information ({type(exc).__name__}: {exc})",
            ) from None
        files.append(_File(path, sop_class, sop_instance, syntax))
    return files


def send_files(
    paths: Sequence[str | Path],
    destination: Destination,
    *,
    calling_ae_title: str = DEFAULT_AE_TITLE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SendReport:
    """Send DICOM files to ``destination`` (C-STORE over one association, or STOW-RS).

    Parameters
    ----------
    paths
        DICOM Part 10 files.
    destination
        The peer (:class:`~y90dose.dicomnet.destinations.Destination`).
    calling_ae_title
        Our AE title in the association request (DIMSE only).
    timeout_s
        Longest wait for the connection, the association answer and each response.

    Returns
    -------
    SendReport
        Each instance's outcome; check ``report.failed``.

    Raises
    ------
    InputError
        A file is not DICOM, there is no file, or the AE title is invalid.
    DicomNetworkError
        The peer could not be reached, refused the association or the request, or the
        connection broke; ``transient`` says whether a later try may succeed.

    Examples
    --------
    >>> pacs = Destination(name="pacs", kind="dimse", host="pacs", port=104, ae_title="PACS")
    >>> send_files(["RD.dcm"], pacs).failed  # doctest: +SKIP
    []
    """
    if not paths:
        raise InputError("files", [], "at least one DICOM file")
    check_ae_title(calling_ae_title, "calling_ae_title")
    files = _headers([Path(p) for p in paths])
    if destination.kind == "dimse":
        return _send_dimse(files, destination, calling_ae_title, timeout_s)
    return _send_stow(files, destination, timeout_s)


def association_failure(assoc: Any, destination: Destination) -> DicomNetworkError:
    """Why an association with ``destination`` was not established, and whether it may
    succeed later (rejected-transient, aborted or no connection: transient)."""
    peer = destination.peer
    if assoc.is_rejected:
        answer = getattr(assoc.acceptor, "primitive", None)
        result = getattr(answer, "result", None)
        reason = getattr(answer, "reason_str", "no reason given")
        transient = result == 0x02
        kind = "transient" if transient else "permanent"
        return DicomNetworkError(
            f"{peer} rejected the association ({kind}): {reason}; check that it knows the "
            f"calling AE title and that {destination.ae_title} is its AE title",
            transient=transient,
        )
    if getattr(assoc.acceptor, "primitive", None) is None:  # nothing came back
        return DicomNetworkError(
            f"no association with {peer}: connection refused or no answer", transient=True
        )
    return DicomNetworkError(
        f"{peer} accepted none of the presentation contexts offered (the SOP classes or "
        "transfer syntaxes sent), or the association was aborted",
        transient=False,
    )


def _contexts(files: Sequence[_File]) -> dict[str, list[str]]:
    contexts: dict[str, list[str]] = {}
    for item in files:
        syntaxes = contexts.setdefault(item.sop_class_uid, [])
        for syntax in (
            item.transfer_syntax_uid,
            EXPLICIT_VR_LITTLE_ENDIAN,
            IMPLICIT_VR_LITTLE_ENDIAN,
        ):
            if syntax not in syntaxes:
                syntaxes.append(syntax)
    if len(contexts) > MAX_PRESENTATION_CONTEXTS:
        raise InputError(
            "files",
            f"{len(contexts)} SOP classes",
            f"at most {MAX_PRESENTATION_CONTEXTS} SOP classes in one send",
        )
    return contexts


def _send_dimse(
    files: Sequence[_File], destination: Destination, calling: str, timeout_s: float
) -> SendReport:
    try:
        from pynetdicom import AE
    except ImportError as exc:
        raise extra_missing("sending by DIMSE", exc) from None
    ae = AE(ae_title=calling)
    for timeout in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, timeout, timeout_s)
    for sop_class, syntaxes in _contexts(files).items():
        ae.add_requested_context(sop_class, syntaxes)
    assert destination.host is not None and destination.port is not None
    assoc = ae.associate(destination.host, destination.port, ae_title=str(destination.ae_title))
    if not assoc.is_established:
        raise association_failure(assoc, destination)
    outcomes: list[InstanceOutcome] = []
    try:
        for item in files:
            try:
                status = assoc.send_c_store(item.path)
            except (ValueError, AttributeError) as exc:  # no accepted context for it
                outcomes.append(_outcome(item, "failed", f"not sent: {exc}"))
                continue
            if not status or "Status" not in status:
                raise DicomNetworkError(
                    f"{destination.peer} did not answer the C-STORE of {item.path.name} "
                    f"within {timeout_s:g} s, or the connection broke",
                    transient=True,
                )
            code = int(status.Status)
            comment = str(status.get("ErrorComment", "") or "")
            if code == 0x0000:
                outcomes.append(_outcome(item, "stored"))
            elif code in STORE_WARNINGS:
                outcomes.append(_outcome(item, "warning", f"status 0x{code:04X} {comment}"))
            else:
                outcomes.append(
                    _outcome(
                        item,
                        "failed",
                        f"status 0x{code:04X} {comment}".strip(),
                        transient=(code & 0xFF00) == 0xA700,
                    )
                )
    finally:
        if assoc.is_established:
            assoc.release()
    return SendReport(destination.peer, "dimse", tuple(outcomes))


def _outcome(
    item: _File, status: str, detail: str = "", *, transient: bool = False
) -> InstanceOutcome:
    return InstanceOutcome(
        str(item.path), item.sop_class_uid, item.sop_instance_uid, status, detail, transient
    )


def http_failure(exc: Exception, what: str, peer: str) -> DicomNetworkError:
    """A DICOMweb request's failure as a DicomNetworkError (transient: no connection,
    timeout, HTTP 5xx, 408 or 429)."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        transient = code >= 500 or code in (408, 429)
        return DicomNetworkError(
            f"{peer} answered {what} with HTTP {code} {exc.response.reason}", transient=transient
        )
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return DicomNetworkError(
            f"no answer from {peer} to {what}: {type(exc).__name__}", transient=True
        )
    return DicomNetworkError(
        f"{what} to {peer} failed: {type(exc).__name__}: {exc}", transient=False
    )


def dicomweb_client(destination: Destination, timeout_s: float) -> Any:
    """A dicomweb-client for ``destination`` (its URL's credentials as HTTP basic auth)."""
    try:
        import requests
        from dicomweb_client.api import DICOMwebClient
    except ImportError as exc:
        raise extra_missing("DICOMweb", exc) from None
    from urllib.parse import unquote, urlsplit

    from y90dose.dicomnet.destinations import shown_url

    assert destination.url is not None
    parts = urlsplit(destination.url)
    session = requests.Session()
    if parts.username is not None:
        session.auth = (unquote(parts.username), unquote(parts.password or ""))
    return DICOMwebClient(url=shown_url(destination.url), session=session, timeout=timeout_s)


def _send_stow(files: Sequence[_File], destination: Destination, timeout_s: float) -> SendReport:
    import pydicom

    client = dicomweb_client(destination, timeout_s)
    datasets = [pydicom.dcmread(item.path) for item in files]
    try:
        response = client.store_instances(datasets)
    except Exception as exc:
        raise http_failure(exc, "STOW-RS", destination.peer) from None
    failed = {
        str(item.get("ReferencedSOPInstanceUID", "")): int(item.get("FailureReason", 0xC000))
        for item in (response.get("FailedSOPSequence") or [])
    }
    referenced = list(response.get("ReferencedSOPSequence") or [])
    stored = {str(item.get("ReferencedSOPInstanceUID", "")) for item in referenced}
    warned = {
        str(item.get("ReferencedSOPInstanceUID", ""))
        for item in referenced
        if "WarningReason" in item
    }
    outcomes = []
    for item in files:
        reason = failed.get(item.sop_instance_uid)
        if reason is not None:
            outcomes.append(
                _outcome(
                    item,
                    "failed",
                    f"FailureReason 0x{reason:04X}",
                    transient=(reason & 0xFF00) == 0xA700,
                )
            )
        elif item.sop_instance_uid in warned:
            outcomes.append(_outcome(item, "warning", "stored with a warning"))
        elif item.sop_instance_uid in stored:
            outcomes.append(_outcome(item, "stored"))
        else:  # neither stored nor failed in the STOW-RS response: not taken as stored
            outcomes.append(_outcome(item, "failed", "not listed as stored in the response"))
    return SendReport(destination.peer, "dicomweb", tuple(outcomes))
