"""Dose jobs on Dask (``job_executor="dask"``): a local cluster and a real scheduler with a
worker process, the same job and dose as in the process pool."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from service_helpers import add_key
from test_service_dose_jobs import nifti_study, wait_finished

from y90dose_service.main import create_app
from y90dose_service.settings import ServiceSettings

pytest.importorskip("distributed")

BIN = Path(sys.executable).parent


def _run_mird_job(app: Any, tmp_path: Path) -> None:
    """The uniform-liver LDM job: every liver voxel gets D = C A (1 - LSF) / M."""
    key = add_key(app, "p", "planner")
    headers = {"X-API-Key": key}
    with TestClient(app) as client:
        study = client.post(
            "/v1/studies", files={"file": ("s.zip", nifti_study(tmp_path))}, headers=headers
        )
        assert study.status_code == 201, study.text
        body = {
            "study_id": study.json()["id"],
            "activity_gbq": 0.1,
            "lsf": 0.05,
            "product": "resin",
            "method": "ldm",
        }
        job = client.post("/v1/dose-jobs", json=body, headers=headers).json()
        done = wait_finished(client, key, job["id"])
    assert done["status"] == "succeeded", done["message"]
    # C = 49.38 J/GBq (resin), A = 0.1 GBq, LSF 0.05, M = 512 x 0.064 mL x 1.03 g/mL
    expected_gy = 49.38 * 0.1 * 0.95 / (512 * 0.064 * 1.03 / 1000)
    assert done["result"]["metrics"]["liver"]["mean_gy"] == pytest.approx(expected_gy, rel=1e-5)


def test_a_job_on_a_local_dask_cluster(tmp_path: Path, make_settings: Any) -> None:
    _run_mird_job(create_app(make_settings(job_executor="dask", job_workers=1)), tmp_path)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "dask.log").open("wb")
    processes = [
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=log,
            stderr=log,
        )
    ]
    processes.append(
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "worker",
                address,
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
            ],
            stdout=log,
            stderr=log,
        )
    )
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
        yield address
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)
        log.close()


def test_a_job_on_a_dask_scheduler_by_address(
    tmp_path: Path, make_settings: Any, scheduler: str
) -> None:
    settings = make_settings(job_executor="dask", dask_scheduler=scheduler)
    _run_mird_job(create_app(settings), tmp_path)


def test_a_scheduler_without_the_dask_executor_is_refused(tmp_path: Path) -> None:
    # the process pool would silently ignore the address
    with pytest.raises(ValidationError, match="set job_executor to 'dask'"):
        ServiceSettings(data_dir=tmp_path, dask_scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValidationError, match="job_executor"):
        ServiceSettings(data_dir=tmp_path, job_executor="celery")
