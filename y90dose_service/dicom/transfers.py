"""DICOM sends and imports as jobs: state in ``dicom_transfers``, run on threads of the
service process (network waits, not computation), retried when the failure is transient.

- A **send** (``POST /v1/dose-jobs/{id}/send``) prepares the objects
  (:mod:`y90dose_service.dicom.objects`, kept in ``<data_dir>/transfers/<id>/``) and sends
  them with :func:`y90dose.dicomnet.send.send_files`.
- An **import** (``POST /v1/studies/import``) retrieves a study by DICOMweb or C-GET into
  a :class:`~y90dose_service.dicom.ingest.ReceivedInstances` (the checks of an upload),
  or asks the peer to C-MOVE it to the service's Storage SCP, which hands the arriving
  instances to the import (:meth:`~y90dose_service.dicom.scp.StorageSCP.expect`).

A try that fails for a transient reason (:class:`~y90dose.errors.DicomNetworkError` with
``transient``: no connection, timeout, association rejected as transient, peer out of
resources) is tried again after ``dicom_retry_delay_seconds``, doubled each time, until
``dicom_send_max_attempts`` tries; any other failure fails the transfer at once, with
its reason as the message. Life cycle: queued -> running -> succeeded | failed. A
transfer that a service stop interrupted is queued again at the next start (unless its
tries are used up), as dose jobs are. The outcome is audited (``dicom.send_succeeded``,
``dicom.send_failed``, ``dicom.import_succeeded``, ``dicom.import_failed``).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from y90dose.dicomnet.destinations import Destination
from y90dose.errors import DicomNetworkError, Y90DoseError
from y90dose_service import audit
from y90dose_service.dicom.ingest import PRIVATE_DIR_MODE, Origin, ReceivedInstances, StoredStudy
from y90dose_service.jobs import MESSAGE_MAX_CHARS, hide_paths, job_output_dir, study_dir
from y90dose_service.models import DicomTransfer, DoseJob, utcnow
from y90dose_service.security import Caller, Role
from y90dose_service.settings import ServiceSettings

logger = logging.getLogger("y90dose.service.dicom")

TRANSFER_WORKERS = 2
"""Sends and imports run at once (threads: they wait on the network)."""

TRANSFERS_DIR = "transfers"
"""Folder of the data directory with what each send prepared (its structure set)."""

IMPORT_METHODS = ("dicomweb", "c-get", "c-move")

T = TypeVar("T")


class TransferKind(StrEnum):
    """What a transfer does."""

    SEND = "send"
    IMPORT = "import"


class TransferStatus(StrEnum):
    """Life cycle: queued -> running -> succeeded | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class _StoppingError(Exception):
    """The service stops: the transfer stays running and is queued again at start."""


class TransferFailedError(Y90DoseError):
    """A transfer that cannot succeed (the message says why)."""


class TransferManager:
    """Runs sends and imports (module docstring)."""

    def __init__(
        self,
        settings: ServiceSettings,
        sessions: sessionmaker[Session],
        destinations: dict[str, Destination],
        scp: Any = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.destinations = destinations
        self.scp = scp
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start the worker threads and queue again what a stop interrupted."""
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(TRANSFER_WORKERS, thread_name_prefix="dicom-transfer")
        for transfer_id in self.recover():
            self.submit(transfer_id)

    def shutdown(self) -> None:
        """Stop: queued transfers stay queued, running ones are left at their next wait
        (both run again at the next start)."""
        self._stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def recover(self) -> list[str]:
        """Queue again the transfers a stop interrupted (or fail those out of tries)."""
        again = []
        with self.sessions() as session:
            rows = session.scalars(
                select(DicomTransfer)
                .where(
                    DicomTransfer.status.in_(
                        [TransferStatus.QUEUED.value, TransferStatus.RUNNING.value]
                    )
                )
                .order_by(DicomTransfer.created_at)
            ).all()
            for row in rows:
                if row.attempts >= self.settings.dicom_send_max_attempts:
                    self._fail_row(
                        session,
                        row,
                        f"interrupted by a service stop after {row.attempts} tries; not "
                        f"tried again (dicom_send_max_attempts="
                        f"{self.settings.dicom_send_max_attempts})",
                    )
                    continue
                row.status = TransferStatus.QUEUED.value
                row.stage = "queued again after a service restart"
                again.append(row.id)
            session.commit()
        return again

    def submit(self, transfer_id: str) -> None:
        """Run a transfer stored as ``queued``."""
        if self._pool is None:
            logger.warning("DICOM transfer %s queued while no worker runs", transfer_id)
            return
        self._pool.submit(self._run, transfer_id)

    # --- one transfer -------------------------------------------------------------------

    def _update(self, transfer_id: str, **values: Any) -> None:
        with self.sessions() as session:
            row = session.get(DicomTransfer, transfer_id)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)
                session.commit()

    def _run(self, transfer_id: str) -> None:
        with self.sessions() as session:
            row = session.get(DicomTransfer, transfer_id)
            if row is None or row.status != TransferStatus.QUEUED.value:
                return
            row.status = TransferStatus.RUNNING.value
            row.started_at = utcnow()
            row.stage = "starting"
            session.commit()
            kind, params, name = row.kind, dict(row.params), row.destination
            dose_job_id, created_by = row.dose_job_id, row.created_by
        places = {"<data_dir>": self.settings.data_dir}
        try:
            destination = self.destinations.get(name)
            if destination is None:
                raise TransferFailedError(
                    f"destination {name!r} is no longer configured (Y90DOSE_DICOM_DESTINATIONS)"
                )
            if kind == TransferKind.SEND:
                assert dose_job_id is not None
                result = self._send(transfer_id, dose_job_id, params, destination, places)
                study_id = None
            else:
                result, study_id = self._import(transfer_id, params, destination, created_by)
        except _StoppingError:
            logger.info("DICOM transfer %s left for the next start (service stopping)", transfer_id)
            return
        except (Y90DoseError, OSError) as exc:
            self._finish(transfer_id, None, hide_paths(str(exc), places))
            return
        except Exception as exc:
            logger.exception("DICOM transfer %s failed unexpectedly", transfer_id)
            self._finish(transfer_id, None, f"{type(exc).__name__}: {hide_paths(str(exc), places)}")
            return
        self._finish(transfer_id, result, None, study_id)

    def _finish(
        self,
        transfer_id: str,
        result: dict[str, Any] | None,
        message: str | None,
        study_id: str | None = None,
    ) -> None:
        with self.sessions() as session:
            row = session.get(DicomTransfer, transfer_id)
            if row is None:
                return
            if result is None:
                self._fail_row(session, row, message or "failed")
            else:
                row.status = TransferStatus.SUCCEEDED.value
                row.result = result
                row.stage = "done"
                row.finished_at = utcnow()
                row.study_id = study_id or row.study_id
                detail: dict[str, Any] = {"destination": row.destination, "attempts": row.attempts}
                if row.dose_job_id:
                    detail["dose_job_id"] = row.dose_job_id
                if study_id:
                    detail["study_id"] = study_id
                audit.record(
                    session,
                    Caller(row.created_by, Role.PLANNER),
                    f"dicom.{row.kind}_succeeded",
                    "dicom_transfer",
                    row.id,
                    detail,
                )
                logger.info("DICOM %s %s succeeded", row.kind, row.id)
            session.commit()

    def _fail_row(self, session: Session, row: DicomTransfer, message: str) -> None:
        row.status = TransferStatus.FAILED.value
        row.message = message[:MESSAGE_MAX_CHARS]
        row.stage = "failed"
        row.finished_at = utcnow()
        audit.record(
            session,
            Caller(row.created_by, Role.PLANNER),
            f"dicom.{row.kind}_failed",
            "dicom_transfer",
            row.id,
            {"destination": row.destination, "attempts": row.attempts, "reason": row.message},
        )
        logger.warning("DICOM %s %s failed: %s", row.kind, row.id, row.message)

    def _tries(self, transfer_id: str, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it succeeds, fails for a lasting reason or the tries run
        out (module docstring)."""
        settings = self.settings
        while True:
            if self._stopping.is_set():
                raise _StoppingError
            with self.sessions() as session:
                row = session.get(DicomTransfer, transfer_id)
                assert row is not None
                row.attempts += 1
                tries = row.attempts
                row.stage = f"try {tries} of {settings.dicom_send_max_attempts}"
                session.commit()
            try:
                return attempt()
            except DicomNetworkError as exc:
                if not exc.transient or tries >= settings.dicom_send_max_attempts:
                    if exc.transient:
                        raise TransferFailedError(
                            f"{exc} (after {tries} tries; dicom_send_max_attempts)"
                        ) from None
                    raise
                wait_s = settings.dicom_retry_delay_seconds * 2 ** (tries - 1)
                self._update(
                    transfer_id, stage=f"try {tries} failed ({exc}); next try in {wait_s:g} s"
                )
                logger.info("DICOM transfer %s: try %d failed: %s", transfer_id, tries, exc)
                if self._stopping.wait(wait_s):
                    raise _StoppingError from None

    # --- sends --------------------------------------------------------------------------

    def _send(
        self,
        transfer_id: str,
        dose_job_id: str,
        params: dict[str, Any],
        destination: Destination,
        places: dict[str, Path],
    ) -> dict[str, Any]:
        from y90dose.dicomnet.send import send_files
        from y90dose_service.dicom.objects import prepare

        with self.sessions() as session:
            job = session.get(DoseJob, dose_job_id)
            assert job is not None
            study_id = job.study_id
        data_dir = self.settings.data_dir
        job_dir = job_output_dir(data_dir, dose_job_id)
        study_files = study_dir(data_dir, study_id)
        places.update({"<job>": job_dir, "<study>": study_files})
        folder = data_dir / TRANSFERS_DIR / transfer_id
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
        self._update(transfer_id, stage="preparing the objects")
        files = prepare(
            job_dir,
            study_files,
            list(params["objects"]),
            [float(v) for v in params.get("isodose_levels_gy") or []],
            folder,
            uid_seed=transfer_id,
        )
        names = {str(path): obj for obj, path in files}

        def attempt() -> Any:
            report = send_files(
                [path for _, path in files],
                destination,
                calling_ae_title=self.settings.dicom_ae_title,
                timeout_s=self.settings.dicom_timeout_seconds,
            )
            if report.failed:
                first = report.failed[0]
                raise DicomNetworkError(
                    f"{destination.peer} refused {len(report.failed)} of "
                    f"{len(report.instances)} instance(s); the {names[first.path]}: "
                    f"{first.detail}",
                    transient=report.transient,
                )
            return report

        report = self._tries(transfer_id, attempt)
        return {
            "destination": destination.name,
            "protocol": report.protocol,
            "instances": [
                {
                    "object": names[item.path],
                    "file": Path(item.path).name,
                    "sop_class_uid": item.sop_class_uid,
                    "sop_instance_uid": item.sop_instance_uid,
                    "status": item.status,
                    "detail": item.detail,
                }
                for item in report.instances
            ],
        }

    # --- imports ------------------------------------------------------------------------

    def _import(
        self,
        transfer_id: str,
        params: dict[str, Any],
        destination: Destination,
        created_by: str,
    ) -> tuple[dict[str, Any], str]:
        from y90dose.dicomnet.retrieve import (
            RetrieveReport,
            request_cmove,
            retrieve_cget,
            retrieve_dicomweb,
        )

        settings = self.settings
        uid = str(params["study_instance_uid"])
        method = str(params["method"])
        origin = Origin(
            Caller(created_by, Role.PLANNER),
            "study.import",
            {"transfer_id": transfer_id, "destination": destination.name, "method": method},
            {
                "protocol": method,
                "destination": destination.name,
                "transfer_id": transfer_id,
            },
        )
        timeout_s = settings.dicom_timeout_seconds

        def by_move() -> tuple[RetrieveReport, list[StoredStudy]]:
            scp = self.scp
            if scp is None:
                raise TransferFailedError(
                    "C-MOVE needs the service's Storage SCP (Y90DOSE_DICOM_PORT is not set)"
                )
            claim = scp.expect(uid, origin)
            try:
                try:
                    report = request_cmove(
                        destination,
                        uid,
                        settings.dicom_ae_title,
                        calling_ae_title=settings.dicom_ae_title,
                        timeout_s=timeout_s,
                    )
                except DicomNetworkError as exc:
                    raise DicomNetworkError(
                        f"{exc} (for C-MOVE the peer must know AE title "
                        f"{settings.dicom_ae_title} with this service's host and port "
                        f"{settings.dicom_port}, and call it with an AE title of "
                        "Y90DOSE_DICOM_CALLING_AE_TITLES)",
                        transient=exc.transient,
                    ) from None
                if report.completed == 0:
                    raise DicomNetworkError(
                        f"{destination.peer} moved no instance of the study (C-MOVE: "
                        f"{report.failed} failed)",
                        transient=False,
                    )
                if not claim.done.wait(timeout_s):
                    raise DicomNetworkError(
                        f"{destination.peer} reported {report.completed} instance(s) moved, "
                        f"but no association with them ended at the Storage SCP within "
                        f"{timeout_s:g} s",
                        transient=True,
                    )
                return report, list(claim.stored)
            finally:
                scp.forget(claim)

        def by_retrieval() -> tuple[RetrieveReport, list[StoredStudy]]:
            instances = ReceivedInstances(settings, expected_study_uid=uid)
            try:
                if method == "dicomweb":
                    report = retrieve_dicomweb(destination, uid, instances.add, timeout_s=timeout_s)
                else:
                    report = retrieve_cget(
                        destination,
                        uid,
                        instances.add,
                        calling_ae_title=settings.dicom_ae_title,
                        timeout_s=timeout_s,
                    )
                if not instances.instances and instances.refusal is None:
                    raise DicomNetworkError(
                        f"{destination.peer} sent no instance of the study "
                        f"({method}: {report.failed} failed)",
                        transient=False,
                    )
                return report, instances.store(self.sessions, origin)
            finally:
                instances.discard()

        self._update(transfer_id, stage=f"retrieving by {method}")
        report, stored = self._tries(transfer_id, by_move if method == "c-move" else by_retrieval)
        refused = [s.refusal for s in stored if s.refusal]
        made = [s for s in stored if s.study_id]
        if refused or not made:
            raise TransferFailedError(
                "the retrieved study was not stored: "
                + (refused[0] if refused else "no instance arrived")
            )
        study = made[0]
        assert study.study_id is not None
        warnings = []
        if report.failed:
            warnings.append(
                f"{report.failed} instance(s) of the study were not retrieved: the peer "
                "could not send them, or they are of a SOP class y90dose does not take "
                "(docs/dicom.md)"
            )
        return (
            {
                "study_id": study.study_id,
                "instances": study.instances,
                "retrieval": report.to_dict(),
                "warnings": warnings,
            },
            study.study_id,
        )
