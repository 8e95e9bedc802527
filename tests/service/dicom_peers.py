"""Real DICOM peers for the DICOM tests (a uniquely named helper module): Orthanc from
Debian (``orthanc``, ``orthanc-dicomweb``) on loopback ports with a generated
configuration, and dcmtk's ``storescu`` and ``findscu`` as an independent client.

:func:`require_peers` skips a test when they are not installed, and fails it in CI
(``CI=true``), where ``.ci/run`` installs them. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ORTHANC_PLACES = ("/usr/sbin/Orthanc", "/usr/bin/Orthanc")
DICOMWEB_PLUGIN_PLACES = (
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    Path("/usr/lib/orthanc/plugins/libOrthancDicomWeb.so"),
)
TOOLS = ("storescu", "findscu")
START_TIMEOUT_S = 30.0
ORTHANC_AE_TITLE = "ORTHANC"


def orthanc_program() -> str | None:
    """The Orthanc executable (Debian puts it in /usr/sbin, not on every user's PATH)."""
    return shutil.which("Orthanc") or next((p for p in ORTHANC_PLACES if Path(p).is_file()), None)


def dicomweb_plugin() -> Path | None:
    """The Orthanc DICOMweb plugin's path, when installed."""
    return next((p for p in DICOMWEB_PLUGIN_PLACES if p.is_file()), None)


def require_peers() -> None:
    """Skip (fail in CI) unless Orthanc, its DICOMweb plugin, dcmtk and pynetdicom are here."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if orthanc_program() is None:
        missing.append("Orthanc")
    if dicomweb_plugin() is None:
        missing.append("orthanc-dicomweb plugin")
    try:
        import dicomweb_client  # noqa: F401
        import pynetdicom  # noqa: F401
    except ImportError:
        missing.append("the 'dicom' extra (pynetdicom, dicomweb-client)")
    if missing:
        reason = f"DICOM peers not installed: {', '.join(missing)} (apt-get install orthanc "
        reason += "orthanc-dicomweb dcmtk)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)


@dataclass
class Orthanc:
    """A running Orthanc: its DICOM port and REST base URL."""

    dicom_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def rest(self) -> str:
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        """Base URL of DICOMweb."""
        return f"{self.rest}/dicom-web"

    def get(self, path: str) -> Any:
        """GET a REST path as JSON."""
        response = httpx.get(f"{self.rest}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def find_instance(self, sop_instance_uid: str) -> str | None:
        """Orthanc's id of the instance with that SOP Instance UID, if it holds one."""
        response = httpx.post(
            f"{self.rest}/tools/find",
            json={"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}},
            timeout=30,
        )
        response.raise_for_status()
        found: list[str] = response.json()
        return found[0] if found else None

    def instance_file(self, orthanc_id: str) -> bytes:
        """The DICOM file Orthanc stored."""
        response = httpx.get(f"{self.rest}/instances/{orthanc_id}/file", timeout=30)
        response.raise_for_status()
        return response.content

    def delete_instance(self, orthanc_id: str) -> None:
        """Remove an instance."""
        httpx.delete(f"{self.rest}/instances/{orthanc_id}", timeout=30).raise_for_status()

    def study_instances(self, study_instance_uid: str) -> list[dict[str, Any]]:
        """The instances Orthanc holds of a study (with their tags)."""
        response = httpx.post(
            f"{self.rest}/tools/find",
            json={"Level": "Study", "Query": {"StudyInstanceUID": study_instance_uid}},
            timeout=30,
        )
        response.raise_for_status()
        studies = response.json()
        if not studies:
            return []
        found: list[dict[str, Any]] = self.get(f"/studies/{studies[0]}/instances")
        return found


@contextmanager
def running_orthanc(
    folder: Path, dicom_port: int, http_port: int, modalities: dict[str, list[Any]]
) -> Iterator[Orthanc]:
    """Orthanc with its own storage under ``folder``, loopback HTTP without
    authentication, the DICOMweb plugin, and ``modalities`` (name -> [AE, host, port])
    it may send to (C-MOVE destinations); stopped at the end."""
    plugin = dicomweb_plugin()
    assert plugin is not None
    storage = folder / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "y90dose-test-pacs",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "DicomAet": ORTHANC_AE_TITLE,
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomModalities": modalities,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowFind": True,  # findscu, the independent client, is no modality
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "HttpCompressionEnabled": False,
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=1))
    log = folder / "orthanc.log"
    with log.open("wb") as sink:
        program = orthanc_program()
        assert program is not None
        process = subprocess.Popen([program, str(path)], stdout=sink, stderr=subprocess.STDOUT)
    orthanc = Orthanc(dicom_port, http_port, process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, "Orthanc stopped: " + log.read_text(errors="replace")
            try:
                if httpx.get(f"{orthanc.rest}/system", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Orthanc did not start: " + log.read_text()
            time.sleep(0.2)
        yield orthanc
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def storescu(
    port: int, called: str, calling: str, *paths: Path, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """dcmtk ``storescu`` (folders scanned recursively) to 127.0.0.1:``port``."""
    return subprocess.run(
        [
            "storescu",
            "-v",  # each store response's status
            "-aec",
            called,
            "-aet",
            calling,
            "+sd",
            "+r",
            "-to",
            "20",
            "127.0.0.1",
            str(port),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def findscu_images(port: int, called: str, study_instance_uid: str) -> list[dict[str, str]]:
    """dcmtk ``findscu`` at IMAGE level (Study Root): each match's SOP class (dcmtk's name
    of it, ``RTDoseStorage``), instance UID and series UID, parsed from its dump."""
    run = subprocess.run(
        [
            "findscu",
            "-S",
            "-aec",
            called,
            "-aet",
            "FINDSCU",
            "-to",
            "20",
            "-k",
            "QueryRetrieveLevel=IMAGE",
            "-k",
            f"StudyInstanceUID={study_instance_uid}",
            "-k",
            "SeriesInstanceUID",
            "-k",
            "SOPInstanceUID",
            "-k",
            "SOPClassUID",
            "127.0.0.1",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    matches: list[dict[str, str]] = []
    for raw in (run.stdout + run.stderr).splitlines():
        line = raw[3:] if raw[:3] in ("I: ", "W: ", "E: ") else raw
        if "Find Response" in line:
            matches.append({})
        for tag, name in (
            ("(0008,0016)", "SOPClassUID"),  # dcmtk shows a known UID by name: =RTDoseStorage
            ("(0008,0018)", "SOPInstanceUID"),
            ("(0020,000e)", "SeriesInstanceUID"),
        ):
            if not line.startswith(tag) or not matches:
                continue
            value = line[len(tag) :].split()[1]
            matches[-1][name] = value.strip("[]=")
    return [m for m in matches if m]
