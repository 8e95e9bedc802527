"""DICOM instances received over the network become studies, through the checks of an
upload (:mod:`y90dose_service.uploads`).

:class:`ReceivedInstances` holds the instances of one association (or one import) in
``<data_dir>/incoming/<id>/`` (folders 0700, files 0600) while they arrive. Each instance
is checked as it comes, and refused with a C-STORE failure status that says why:

- past ``upload_max_files`` instances or ``upload_max_bytes`` bytes: 0xA700 (out of
  resources);
- not a whole, readable DICOM instance (the upload check
  :func:`y90dose.imaging.dicom_series.read_dicom_header`: a truncated pixel data is
  refused), or not of the study an import asked for: 0xC000 (cannot understand).

After the first refusal every further instance is refused too and nothing of the
association is stored: a study is kept whole or not at all, like an upload. When the
association ends, :meth:`ReceivedInstances.store` makes one study per StudyInstanceUID:
:func:`~y90dose_service.uploads.describe_study` checks it as an upload's content (voxel
limits of ``image_max_voxels`` and ``emission_max_voxels``) and the study is recorded with
its audit event in one transaction, or removed with the reason logged and audited.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from y90dose.errors import ImageError
from y90dose_service import audit
from y90dose_service.jobs import hide_paths, study_dir
from y90dose_service.models import Study, new_id
from y90dose_service.problems import InvalidInputError, ProblemError, sentence
from y90dose_service.security import Caller
from y90dose_service.settings import ServiceSettings
from y90dose_service.uploads import describe_study, dose_inputs

logger = logging.getLogger("y90dose.service.dicom")

INCOMING_DIR = "incoming"
"""Folder of the data directory holding instances until their association ends."""

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
"""C-STORE statuses (PS3.4 B.2.3): refused for lack of room, refused as unreadable."""

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def incoming_root(settings: ServiceSettings) -> Path:
    """Where instances wait for the end of their association."""
    return settings.data_dir / INCOMING_DIR


def clear_incoming(settings: ServiceSettings) -> int:
    """Remove what a previous run left in the incoming folder (associations cut by a
    stop: never stored); the number of folders removed."""
    root = incoming_root(settings)
    if not root.is_dir():
        return 0
    left = [p for p in root.iterdir()]
    for path in left:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if left:
        logger.warning(
            "removed %d unfinished DICOM association(s) left by the previous run", len(left)
        )
    return len(left)


@dataclass(frozen=True)
class Origin:
    """Who and what a study comes from: the audit caller and action, extra audit detail
    and the ``source`` written in the study's summary."""

    caller: Caller
    action: str
    detail: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredStudy:
    """One study stored from received instances (``study_id``), or refused (``refusal``)."""

    study_instance_uid: str
    instances: int
    study_id: str | None = None
    summary: dict[str, Any] | None = None
    refusal: str | None = None


@dataclass
class _Instance:
    name: str
    study_instance_uid: str
    modality: str
    size_bytes: int


class ReceivedInstances:
    """The instances of one association or import, checked as they arrive (module
    docstring). ``add`` is safe to call from several threads."""

    def __init__(self, settings: ServiceSettings, expected_study_uid: str | None = None) -> None:
        self.settings = settings
        self.expected_study_uid = expected_study_uid
        self.id = new_id()
        self.folder = incoming_root(settings) / self.id
        self.folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
        self.instances: dict[str, _Instance] = {}
        self.size_bytes = 0
        self.refusal: str | None = None
        self.refused = 0
        self._counter = 0
        self._lock = threading.Lock()

    def study_uids(self) -> set[str]:
        """The StudyInstanceUIDs received so far."""
        with self._lock:
            return {i.study_instance_uid for i in self.instances.values()}

    def _refuse(self, status: int, reason: str) -> int:
        if self.refusal is None:
            self.refusal = reason
            logger.warning("DICOM instance refused: %s", reason)
        self.refused += 1
        return status

    def add(self, encoded: bytes) -> int:
        """Check and keep one instance (DICOM Part 10 bytes); its C-STORE status."""
        settings = self.settings
        with self._lock:
            if self.refusal is not None:
                self.refused += 1
                return STATUS_CANNOT_UNDERSTAND
            if len(self.instances) + 1 > settings.upload_max_files:
                return self._refuse(
                    STATUS_OUT_OF_RESOURCES,
                    f"more than {settings.upload_max_files} instances in one association "
                    "(upload_max_files)",
                )
            if self.size_bytes + len(encoded) > settings.upload_max_bytes:
                return self._refuse(
                    STATUS_OUT_OF_RESOURCES,
                    f"more than {settings.upload_max_bytes} bytes in one association "
                    "(upload_max_bytes)",
                )
            self._counter += 1
            name = f"{self._counter:06d}.dcm"
        path = self.folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(encoded)
        from y90dose.imaging.dicom_series import read_dicom_header

        try:
            ds = read_dicom_header(path)
        except ImageError as exc:
            path.unlink(missing_ok=True)
            with self._lock:
                return self._refuse(
                    STATUS_CANNOT_UNDERSTAND,
                    "not a whole, readable DICOM instance: "
                    + hide_paths(str(exc), {"<instance>": path}),
                )
        study_uid = str(ds.StudyInstanceUID)
        sop_uid = str(ds.SOPInstanceUID)
        with self._lock:
            if self.expected_study_uid is not None and study_uid != self.expected_study_uid:
                path.unlink(missing_ok=True)
                return self._refuse(
                    STATUS_CANNOT_UNDERSTAND,
                    "an instance of another study than the one asked for",
                )
            previous = self.instances.pop(sop_uid, None)
            if previous is not None:  # sent again: the last copy is kept
                (self.folder / previous.name).unlink(missing_ok=True)
                self.size_bytes -= previous.size_bytes
            self.instances[sop_uid] = _Instance(name, study_uid, str(ds.Modality), len(encoded))
            self.size_bytes += len(encoded)
        return STATUS_SUCCESS

    def discard(self) -> None:
        """Remove whatever is still in the incoming folder."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def store(
        self,
        sessions: sessionmaker[Session],
        origin: Origin,
        origin_for: Callable[[str], Origin] | None = None,
    ) -> list[StoredStudy]:
        """Make one study per StudyInstanceUID (module docstring); the incoming folder is
        removed. ``origin_for(study_uid)`` may give a study another origin (an import's
        C-MOVE). Nothing is stored when an instance was refused."""
        try:
            if self.refusal is not None:
                return [self._refused(sessions, origin, self.refusal)]
            groups: dict[str, list[_Instance]] = {}
            for instance in self.instances.values():
                groups.setdefault(instance.study_instance_uid, []).append(instance)
            return [
                self._store_study(sessions, origin_for(uid) if origin_for else origin, uid, group)
                for uid, group in sorted(groups.items())
            ]
        finally:
            self.discard()

    def _refused(self, sessions: sessionmaker[Session], origin: Origin, reason: str) -> StoredStudy:
        reason = without_uids(reason)  # the audit trail holds no DICOM UID
        received = len(self.instances)
        logger.warning(
            "DICOM association from %s not stored: %s (%d instance(s) received, %d refused)",
            origin.caller.name,
            reason,
            received,
            self.refused,
        )
        with sessions() as session:
            audit.record(
                session,
                origin.caller,
                f"{origin.action}_refused",
                "dicom_association",
                self.id,
                {**origin.detail, "reason": reason, "received": received, "refused": self.refused},
            )
            session.commit()
        return StoredStudy("", received, refusal=reason)

    def _store_study(
        self,
        sessions: sessionmaker[Session],
        origin: Origin,
        study_uid: str,
        group: list[_Instance],
    ) -> StoredStudy:
        settings = self.settings
        study_id = new_id()
        files_dir = study_dir(settings.data_dir, study_id)
        files_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
        paths = []
        for instance in group:
            relative = PurePosixPath(_folder_name(instance.modality), instance.name)
            (files_dir / relative.parent).mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            os.replace(self.folder / instance.name, files_dir.joinpath(*relative.parts))
            paths.append(relative)
        try:
            kind, summary = describe_study(
                files_dir,
                paths,
                None,
                max_voxels=settings.image_max_voxels,
                max_emission_voxels=settings.emission_max_voxels,
            )
            summary["dose_inputs"] = dose_inputs(files_dir)
            summary["source"] = origin.source
            size_bytes = sum(i.size_bytes for i in group)
            with sessions() as session:
                session.add(
                    Study(
                        id=study_id,
                        kind=kind,
                        file_count=len(paths),
                        size_bytes=size_bytes,
                        summary=summary,
                        created_by=origin.caller.name,
                    )
                )
                audit.record(
                    session,
                    origin.caller,
                    origin.action,
                    "study",
                    study_id,
                    {**origin.detail, "files": len(paths), "kind": kind},
                )
                session.commit()
        except (InvalidInputError, ProblemError) as exc:
            shutil.rmtree(files_dir.parent, ignore_errors=True)
            return self._refused(sessions, origin, _reason(exc))
        except BaseException:
            shutil.rmtree(files_dir.parent, ignore_errors=True)
            raise
        logger.info(
            "study %s stored from %s: %d instance(s), %s",
            study_id,
            origin.caller.name,
            len(paths),
            ", ".join(f"{s['modality']} x{s['files']}" for s in summary.get("series", [])),
        )
        return StoredStudy(study_uid, len(paths), study_id, summary)


_UID_IN_TEXT = re.compile(r"\b\d+(?:\.\d+){3,}\b")


def without_uids(text: str) -> str:
    """``text`` with every DICOM UID in it replaced by ``<UID>``.

    Examples
    --------
    >>> without_uids("CT series 1.2.826.0.1.3680043.8.498.1 holds 10 voxels")
    'CT series <UID> holds 10 voxels'
    """
    return _UID_IN_TEXT.sub("<UID>", text)


def _folder_name(modality: str) -> str:
    """The folder of a modality's instances: the Modality when it is a plain code
    (``CT``, ``RTSTRUCT``), else ``other`` (the value comes from the peer: no path in it)."""
    return modality if re.fullmatch(r"[A-Z0-9_]{1,16}", modality) else "other"


def _reason(exc: InvalidInputError | ProblemError) -> str:
    """A refusal of :func:`describe_study` as one sentence."""
    if isinstance(exc, ProblemError):
        return exc.detail
    first = exc.errors[0]
    return sentence(str(first["field"]), first["value"], str(first["allowed"]))
