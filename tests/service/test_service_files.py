"""Files on disk of a real ``y90dose serve``: owner-only modes, the demo key's mode at
creation, and one log line for the migration (issue 9, defects 2 and 9)."""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from service_server import command_env, create_key, running_server

from y90dose_service.demo import DEMO_KEY_FILE, ensure_demo_key
from y90dose_service.main import create_app
from y90dose_service.settings import ServiceSettings

PLAN = {
    "patient_ref": "FILES-1",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08},
}


def nifti_study(tmp_path: Path) -> bytes:
    """A zip of a small NIfTI image and its label map."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, dtype in (("ct.nii.gz", np.float32), ("labels.nii.gz", np.uint8)):
            array = np.zeros((4, 5, 6), dtype=dtype)
            array[1:3, 1:3, 1:3] = 1
            image = sitk.GetImageFromArray(array)
            sitk.WriteImage(image, str(tmp_path / name))
            zf.write(tmp_path / name, name)
    return buffer.getvalue()


def modes(root: Path) -> dict[str, str]:
    """Permission bits of everything under ``root`` (and root), as octal strings."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


@pytest.mark.slow
def test_data_on_disk_is_owner_only_after_a_real_start_and_upload(tmp_path: Path) -> None:
    # An older install's data directory: open to everyone, with a readable file in it.
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    (data_dir / "old-export.csv").write_text("plan id\n")
    os.chmod(data_dir / "old-export.csv", 0o644)
    env = command_env(f"sqlite:///{data_dir / 'y90dose.sqlite3'}")
    with running_server(data_dir, env, "--demo", log_level="info") as server:
        key = {"Authorization": f"Bearer {(data_dir / DEMO_KEY_FILE).read_text().strip()}"}
        upload = httpx.post(
            f"{server.base}/v1/studies",
            files={"file": ("study.zip", nifti_study(tmp_path), "application/zip")},
            headers=key,
            timeout=60,
        )
        assert upload.status_code == 201, upload.text
        assert httpx.post(f"{server.base}/v1/plans", json=PLAN, headers=key).status_code == 201
        on_disk = modes(data_dir)  # while running: the WAL and shared-memory files exist
    assert "y90dose.sqlite3-wal" in on_disk
    assert any(name.endswith("ct.nii.gz") for name in on_disk)
    expected = {name: "0o700" if (data_dir / name).is_dir() else "0o600" for name in on_disk}
    assert on_disk == expected
    first = server.stderr
    assert first.count("was open to other users; made owner-only") == 1
    # Alembic's lines are one line of ours.
    assert "alembic" not in first
    assert len(re.findall(r"database migrated to revision \w+ \(was empty\)", first)) == 1

    create_key(data_dir, env, "second", "viewer")  # another tool on the same directory
    with running_server(data_dir, env, log_level="info") as server:
        pass
    assert "made owner-only" not in server.stderr  # said once, when it was done
    assert len(re.findall(r"database is up to date \(revision \w+\)", server.stderr)) == 1
    assert modes(data_dir) == {
        name: "0o700" if (data_dir / name).is_dir() else "0o600" for name in modes(data_dir)
    }


def test_demo_key_file_is_created_0600_by_the_call_that_creates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a permissive umask and no later chmod, the key file is still 0600: its mode
    comes from the call that creates it, so it is never readable by others."""
    app = create_app(ServiceSettings(data_dir=tmp_path / "data"))
    os.umask(0)
    calls: list[Any] = []
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: calls.append(args))
    try:
        plain = ensure_demo_key(app.state.settings, app.state.sessionmaker)
    finally:
        os.umask(0o077)
    key_file = tmp_path / "data" / DEMO_KEY_FILE
    assert plain is not None and key_file.read_text().strip() == plain
    assert oct(stat.S_IMODE(key_file.stat().st_mode)) == "0o600"
    assert calls == []
