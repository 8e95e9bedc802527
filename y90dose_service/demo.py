"""``y90dose serve --demo``: a data directory ready to try, with a key and a phantom study.

On start, when the database has no live API key, a key named ``demo`` (role approver)
is created and its plain text kept in ``<data_dir>/demo-key.txt`` (mode 0600) so that
later demo starts can show it again; when there is no study, the ``liver`` digital
phantom (``y90dose.phantoms.generators.liver``: SPECT counts, CT, label map of liver, three
tumours, lungs and body) is stored as a study, ready for ``POST /v1/dose-jobs``.
For trying the service only: never use ``--demo`` on a server holding patient data.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from y90dose_service import audit
from y90dose_service.jobs import study_dir
from y90dose_service.models import ApiKey, Study, new_id
from y90dose_service.security import Caller, Role, create_key
from y90dose_service.settings import ServiceSettings
from y90dose_service.uploads import describe_study, dose_inputs

DEMO_KEY_NAME = "demo"
DEMO_KEY_FILE = "demo-key.txt"
DEMO_STUDY_FILES = {"spect": "spect_counts.nii.gz", "labels": "labels.nii.gz", "ct": "ct_hu.nii.gz"}


def ensure_demo_key(settings: ServiceSettings, sessions: sessionmaker[Session]) -> str | None:
    """The demo key's plain text (created when the database has no live key), else None."""
    key_file = settings.data_dir / DEMO_KEY_FILE
    with sessions() as session:
        live = session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
        demo = session.scalar(select(ApiKey).where(ApiKey.name == DEMO_KEY_NAME))
        if demo is not None and demo.revoked_at is None and key_file.is_file():
            return key_file.read_text(encoding="utf-8").strip()
        if live or demo is not None:
            return None
        _, plain = create_key(session, DEMO_KEY_NAME, Role.APPROVER.value)
        session.commit()
    write_private(key_file, plain + "\n")
    return plain


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file ``path`` created mode 0600 (by the call that creates it:
    the file is never readable by others, not even for a moment). A stale file is replaced.
    """
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def ensure_demo_study(settings: ServiceSettings, sessions: sessionmaker[Session]) -> str | None:
    """Store the liver phantom as a study when there is none; its id, else None."""
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(Study)):
            return None
    from y90dose.phantoms.base import write_nifti_set
    from y90dose.phantoms.generators import generate

    phantom = generate("liver")
    study_id = new_id()
    files_dir = study_dir(settings.data_dir, study_id)
    files_dir.mkdir(parents=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            written = write_nifti_set(phantom, Path(tmp))
            for role, name in DEMO_STUDY_FILES.items():
                shutil.copyfile(written[role], files_dir / name)
        _, names = phantom.label_map()
        (files_dir / "names.json").write_text(json.dumps({str(k): v for k, v in names.items()}))
        (files_dir / "study.json").write_text(
            json.dumps(
                {
                    "image": DEMO_STUDY_FILES["spect"],
                    "labels": DEMO_STUDY_FILES["labels"],
                    "ct": DEMO_STUDY_FILES["ct"],
                }
            )
        )
        paths = [p.relative_to(files_dir) for p in sorted(files_dir.iterdir())]
        kind, summary = describe_study(
            files_dir, [PurePosixPath(p.as_posix()) for p in paths], None
        )
        summary["dose_inputs"] = dose_inputs(files_dir)
        summary["demo"] = (
            "liver digital phantom (y90dose.phantoms.generators.liver), not patient data"
        )
        with sessions() as session:
            session.add(
                Study(
                    id=study_id,
                    kind=kind,
                    file_count=len(paths),
                    size_bytes=sum((files_dir / p).stat().st_size for p in paths),
                    summary=summary,
                    created_by=DEMO_KEY_NAME,
                )
            )
            audit.record(
                session,
                Caller(DEMO_KEY_NAME, Role.APPROVER),
                "study.upload",
                "study",
                study_id,
                {"files": len(paths), "kind": kind, "demo": True},
            )
            session.commit()
    except BaseException:
        shutil.rmtree(files_dir.parent, ignore_errors=True)
        raise
    return study_id


def prepare_demo(settings: ServiceSettings, sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Key and study of the demo; what to print."""
    return {
        "key": ensure_demo_key(settings, sessions),
        "study_id": ensure_demo_study(settings, sessions),
    }
