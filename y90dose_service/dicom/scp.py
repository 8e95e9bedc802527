"""The service's DICOM Storage SCP (pynetdicom): associations in, studies out.

It listens on ``dicom_host:dicom_port`` as ``dicom_ae_title`` and refuses an association
(A-ASSOCIATE-RJ, logged) addressed to another AE title or, when
``dicom_calling_ae_titles`` is set, from a calling AE title not in it. It accepts C-ECHO
and C-STORE of the storage SOP classes of :mod:`y90dose.dicomnet.sop_classes` in the
uncompressed transfer syntaxes; at most ``upload_max_concurrent`` associations at once,
each dropped after ``upload_idle_timeout_seconds`` without a message (the upload limits).

Each association's instances go into a :class:`~y90dose_service.dicom.ingest.ReceivedInstances`;
when the peer releases the association they become studies (on the store thread, one
association after the other, so the association threads never wait for the database).
An aborted association stores nothing. Instances of a study an import asked for by
C-MOVE (:meth:`StorageSCP.expect`) become that import's study.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from y90dose.dicomnet.sop_classes import (
    STORAGE_SOP_CLASSES,
    UNCOMPRESSED_TRANSFER_SYNTAXES,
    VERIFICATION_SOP_CLASS,
)
from y90dose_service.dicom.ingest import Origin, ReceivedInstances, StoredStudy
from y90dose_service.security import Caller, Role
from y90dose_service.settings import ServiceSettings

logger = logging.getLogger("y90dose.service.dicom")

ERROR_COMMENT_MAX_CHARS = 64
"""ErrorComment is LO: at most 64 characters."""

STOP_WAIT_S = 10.0
"""At stop, how long studies being stored may take before the store thread is left."""


def dicom_caller(calling_ae_title: str) -> Caller:
    """The audit caller of what a DICOM peer sent: ``dicom:<calling AE title>``."""
    return Caller(f"dicom:{calling_ae_title}", Role.PLANNER)


@dataclass
class MoveClaim:
    """An import waiting for the study it asked a peer to C-MOVE here."""

    study_instance_uid: str
    origin: Origin
    done: threading.Event = field(default_factory=threading.Event)
    stored: list[StoredStudy] = field(default_factory=list)


ReceivedFn = Callable[[list[StoredStudy], str], None]
"""Called with the studies stored from one association and its calling AE title."""


class StorageSCP:
    """The Storage SCP of the service (module docstring)."""

    def __init__(
        self,
        settings: ServiceSettings,
        sessions: sessionmaker[Session],
        on_received: ReceivedFn | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.on_received = on_received
        self._server: Any = None
        self._store_thread: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._associations: dict[Any, ReceivedInstances] = {}
        self._claims: dict[str, MoveClaim] = {}

    @property
    def address(self) -> tuple[str, int]:
        """Host and port it listens on."""
        assert self.settings.dicom_port is not None
        return self.settings.dicom_host, self.settings.dicom_port

    def start(self) -> None:
        """Listen (in pynetdicom's server threads); returns at once.

        Raises
        ------
        OSError
            The port cannot be bound (in use, or a privileged port).
        """
        from pynetdicom import AE, evt

        settings = self.settings
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # one line per PDU at INFO
        ae = AE(ae_title=settings.dicom_ae_title)
        ae.require_called_aet = True
        ae.require_calling_aet = list(settings.dicom_calling_ae_titles or [])
        ae.maximum_associations = settings.upload_max_concurrent
        for timeout in ("acse_timeout", "dimse_timeout", "network_timeout"):
            setattr(ae, timeout, settings.upload_idle_timeout_seconds)
        for uid in STORAGE_SOP_CLASSES:
            ae.add_supported_context(uid, list(UNCOMPRESSED_TRANSFER_SYNTAXES))
        ae.add_supported_context(VERIFICATION_SOP_CLASS)
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda _event: 0x0000),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_ended_without_release),
            (evt.EVT_CONN_CLOSE, self._on_ended_without_release),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dicom-store")
        self._server = ae.start_server(self.address, block=False, evt_handlers=handlers)
        host, port = self.address
        logger.info("DICOM Storage SCP %s listening on %s:%d", settings.dicom_ae_title, host, port)
        if settings.dicom_calling_ae_titles is None:
            logger.warning(
                "Y90DOSE_DICOM_CALLING_AE_TITLES is not set: the DICOM Storage SCP accepts "
                "associations from any calling AE title; set it to the AE titles of your "
                "PACS and modalities (docs/dicom.md)"
            )

    def stop(self) -> None:
        """Stop listening, drop open associations (their instances are not stored) and
        let studies being stored finish (at most ``STOP_WAIT_S``)."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        with self._lock:
            left = list(self._associations.values())
            self._associations.clear()
        for instances in left:
            instances.discard()
        store_thread, self._store_thread = self._store_thread, None
        if store_thread is not None:  # studies being stored finish, within STOP_WAIT_S
            store_thread.shutdown(wait=False, cancel_futures=True)
            waiter = threading.Thread(target=store_thread.shutdown, daemon=True)
            waiter.start()
            waiter.join(STOP_WAIT_S)

    # --- C-MOVE imports -----------------------------------------------------------------

    def expect(self, study_instance_uid: str, origin: Origin) -> MoveClaim:
        """Give the next instances of ``study_instance_uid`` received to an import."""
        claim = MoveClaim(study_instance_uid, origin)
        with self._lock:
            self._claims[study_instance_uid] = claim
        return claim

    def forget(self, claim: MoveClaim) -> None:
        """Stop waiting for ``claim``'s study."""
        with self._lock:
            if self._claims.get(claim.study_instance_uid) is claim:
                del self._claims[claim.study_instance_uid]

    # --- handlers (pynetdicom's association threads) -------------------------------------

    def _on_store(self, event: Any) -> Any:
        from pydicom.dataset import Dataset

        with self._lock:
            instances = self._associations.get(event.assoc)
            if instances is None:
                instances = self._associations[event.assoc] = ReceivedInstances(self.settings)
        status = instances.add(event.encoded_dataset())
        if status == 0x0000:
            return status
        answer = Dataset()
        answer.Status = status
        answer.ErrorComment = (instances.refusal or "refused")[:ERROR_COMMENT_MAX_CHARS]
        return answer

    def _on_released(self, event: Any) -> None:
        with self._lock:
            instances = self._associations.pop(event.assoc, None)
        if instances is None:
            return
        calling = str(event.assoc.requestor.ae_title).strip()
        store_thread = self._store_thread
        if store_thread is None:  # stopping
            instances.discard()
            return
        try:
            store_thread.submit(self._store, instances, calling)
        except RuntimeError:  # shut down meanwhile
            instances.discard()

    def _on_ended_without_release(self, event: Any) -> None:
        with self._lock:
            instances = self._associations.pop(event.assoc, None)
        if instances is not None:
            logger.warning(
                "DICOM association from %s ended without a release: its %d instance(s) "
                "are not stored",
                str(event.assoc.requestor.ae_title).strip(),
                len(instances.instances),
            )
            instances.discard()

    def _on_rejected(self, event: Any) -> None:
        request = event.assoc.requestor.primitive
        logger.warning(
            "DICOM association refused: calling AE title %r from %s called %r; this SCP is "
            "%r and accepts calling AE titles %s",
            str(getattr(request, "calling_ae_title", "")).strip(),
            event.assoc.requestor.address,
            str(getattr(request, "called_ae_title", "")).strip(),
            self.settings.dicom_ae_title,
            self.settings.dicom_calling_ae_titles or "(any)",
        )

    # --- the store thread ---------------------------------------------------------------

    def _store(self, instances: ReceivedInstances, calling: str) -> None:
        received = Origin(
            dicom_caller(calling),
            "study.receive",
            {"calling_ae_title": calling},
            {"protocol": "dicom", "calling_ae_title": calling},
        )
        claimed: dict[str, MoveClaim] = {}
        with self._lock:
            for uid in instances.study_uids():
                claim = self._claims.pop(uid, None)
                if claim is not None:
                    claimed[uid] = claim

        def origin_for(study_uid: str) -> Origin:
            claim = claimed.get(study_uid)
            return claim.origin if claim is not None else received

        try:
            stored = instances.store(self.sessions, received, origin_for)
        except Exception:
            logger.exception("DICOM association from %s: storing its studies failed", calling)
            stored = []
        finally:
            for claim in claimed.values():
                claim.stored.extend(
                    s for s in stored if s.study_instance_uid in ("", claim.study_instance_uid)
                )
                claim.done.set()
        unclaimed = [s for s in stored if s.study_instance_uid not in claimed and s.study_id]
        if unclaimed and self.on_received is not None:
            try:
                self.on_received(unclaimed, calling)
            except Exception:
                logger.exception("DICOM association from %s: the dose-job rule failed", calling)
