"""What the app holds of DICOM networking: the Storage SCP (when ``dicom_port`` is set),
the transfer workers, the destinations and the dose-job rule.

Made by :func:`y90dose_service.main.create_app`, which fails there, before serving, when
the settings cannot work (the ``dicom`` extra missing, a bad dose-job rule); started and
stopped with the app's lifespan.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from y90dose.dicomnet.destinations import Destination
from y90dose.errors import Y90DoseError
from y90dose_service.dicom.ingest import StoredStudy, clear_incoming
from y90dose_service.dicom.rules import DoseJobRule
from y90dose_service.dicom.scp import StorageSCP, dicom_caller
from y90dose_service.dicom.transfers import TransferManager
from y90dose_service.models import Study
from y90dose_service.problems import InvalidInputError, field_error
from y90dose_service.settings import ServiceSettings

logger = logging.getLogger("y90dose.service.dicom")


class DicomUnavailableError(Y90DoseError):
    """The DICOM settings ask for what this installation cannot do."""


def _require_extra(settings: ServiceSettings) -> None:
    needs = []
    if settings.dicom_port is not None or any(
        d.kind == "dimse" for d in settings.dicom_destinations
    ):
        needs.append(("pynetdicom", "Y90DOSE_DICOM_PORT or a 'dimse' destination"))
    if any(d.kind == "dicomweb" for d in settings.dicom_destinations):
        needs.append(("dicomweb_client", "a 'dicomweb' destination"))
    for module, why in needs:
        try:
            __import__(module)
        except ImportError:
            raise DicomUnavailableError(
                f"{why} needs {module}, which is not installed: pip install 'y90dose[dicom]'"
            ) from None


class DicomNetworking:
    """The service's DICOM side (module docstring)."""

    def __init__(
        self, settings: ServiceSettings, sessions: sessionmaker[Session], jobs: Any
    ) -> None:
        _require_extra(settings)
        self.settings = settings
        self.sessions = sessions
        self.jobs = jobs
        self.rule = DoseJobRule.from_setting(settings.dicom_dose_job_rule)
        self.destinations: dict[str, Destination] = {d.name: d for d in settings.dicom_destinations}
        self.scp = (
            StorageSCP(settings, sessions, self.apply_rule)
            if settings.dicom_port is not None
            else None
        )
        self.transfers = TransferManager(settings, sessions, self.destinations, self.scp)

    def check_port(self) -> None:
        """Refuse now, with the setting named, a port the SCP could not listen on.

        Raises
        ------
        DicomUnavailableError
            The port is in use or not allowed.
        """
        if self.scp is None:
            return
        host, port = self.scp.address
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise DicomUnavailableError(
                    f"the DICOM Storage SCP cannot listen on {host}:{port} "
                    f"(Y90DOSE_DICOM_HOST / Y90DOSE_DICOM_PORT): {exc.strerror}"
                ) from None

    def start(self) -> None:
        """Start the SCP and the transfer workers (leftovers of a stop removed first)."""
        clear_incoming(self.settings)
        if self.scp is not None:
            self.scp.start()
        self.transfers.start()

    def stop(self) -> None:
        """Stop both (unfinished transfers run again at the next start)."""
        self.transfers.shutdown()
        if self.scp is not None:
            self.scp.stop()

    def destination(self, name: str) -> Destination:
        """The configured destination ``name``; 422 naming the configured ones."""
        found = self.destinations.get(name)
        if found is None:
            allowed = "the name of a destination of Y90DOSE_DICOM_DESTINATIONS: " + (
                ", ".join(sorted(self.destinations)) or "none is configured"
            )
            raise InvalidInputError([field_error("destination", name, allowed)])
        return found

    def apply_rule(self, stored: list[StoredStudy], calling_ae_title: str) -> None:
        """Start the rule's dose job on each study received from ``calling_ae_title``
        (module :mod:`~y90dose_service.dicom.rules`)."""
        rule = self.rule
        if rule is None or not rule.applies(calling_ae_title):
            return
        from y90dose_service.routers.dose_jobs import add_job

        for study in stored:
            assert study.study_id is not None and study.summary is not None
            inputs = study.summary.get("dose_inputs") or {}
            with self.sessions() as session:
                row = session.get(Study, study.study_id)
                assert row is not None
                summary = dict(row.summary)
                job = None
                if inputs.get("usable"):
                    job = add_job(
                        session,
                        dicom_caller(calling_ae_title),
                        rule.body(study.study_id),
                        {"rule": "dicom_dose_job_rule"},
                    )
                    summary["dose_job"] = {"id": job.id, "rule": "dicom_dose_job_rule"}
                else:
                    summary["dose_job"] = {
                        "not_started": "the dose-job rule matched, but the study's dose "
                        f"inputs are not usable: {inputs.get('problem')}"
                    }
                row.summary = summary
                session.commit()
            if job is not None:
                assert job.run_token is not None
                self.jobs.submit(job.id, job.run_token)
                logger.info("dose job %s started on study %s by the rule", job.id, study.study_id)
