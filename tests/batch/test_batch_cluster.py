"""``y90dose batch`` against a real Dask scheduler and two ``dask worker`` processes on
loopback, started here: a worker killed with kill -9 mid-batch (its studies run on the
other: nothing lost, nothing twice), and the driver killed with kill -9 and the batch
resumed (only what was not finished is computed)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_studies import make_studies, read_csv, study_row, write_manifest

pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
CLI = (sys.executable, "-m", "y90dose.cli.main")
WAIT_S = 120.0
N_STUDIES = 8
VOIS_PER_STUDY = 4  # liver, tumor1, normal_liver, tumors


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(condition: object, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    make_studies(folder, 2)
    # DVK (not LDM): each study takes long enough for the kills to land mid-batch
    rows = [
        study_row(f"p{i}", f"s{i % 2}", method="dvk", activity_gbq=1.0 + i / 10)
        for i in range(N_STUDIES)
    ]
    write_manifest(folder / "manifest.csv", rows)
    return folder


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes (no nanny:
    a killed worker stays dead) on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "cluster.log").open("wb")
    started = []
    scheduler = subprocess.Popen(
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
        start_new_session=True,
    )
    started.append(scheduler)
    try:
        workers = [
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--name",
                    f"w{i}",
                    "--no-dashboard",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            for i in range(2)
        ]
        started += workers
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=WAIT_S)
        yield address, workers
    finally:
        for process in started:
            _kill_group(process)
        log.close()


def _check_complete(out: Path) -> None:
    """Every study once: its folder, its batch.json, its VOIs once each in the summary."""
    summary = read_csv(out / "summary.csv")
    counts = Counter(r["id"] for r in summary)
    assert counts == {f"p{i}": VOIS_PER_STUDY for i in range(N_STUDIES)}
    assert len({(r["id"], r["voi"]) for r in summary}) == len(summary)
    for i in range(N_STUDIES):
        record = json.loads((out / f"p{i}" / "batch.json").read_text())
        assert record["id"] == f"p{i}"
    assert read_csv(out / "failures.csv") == []
    assert not list((out / ".partial").iterdir())
    # the doses scale with each study's activity (1.0 + i/10 GBq, same images per parity)
    mean = {(r["id"], r["voi"]): float(r["mean_gy"]) for r in summary}
    for i in range(2, N_STUDIES):
        ratio = (1.0 + i / 10) / (1.0 + (i - 2) / 10)
        assert mean[(f"p{i}", "liver")] == pytest.approx(
            ratio * mean[(f"p{i - 2}", "liver")], rel=1e-5
        )


def test_a_worker_killed_mid_batch_loses_nothing(
    cohort: Path, tmp_path: Path, cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    address, workers = cluster
    out = tmp_path / "out"
    driver = subprocess.Popen(
        [
            *CLI,
            "batch",
            "--manifest",
            str(cohort / "manifest.csv"),
            "--out",
            str(out),
            "--scheduler",
            address,
            "--no-png",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # kill one worker while both are computing (a study is being written)
        _wait(
            lambda: (out / ".partial").is_dir() and any((out / ".partial").iterdir()),
            "a study to be running",
        )
        workers[0].kill()
        workers[0].wait(timeout=30)
        stdout, stderr = driver.communicate(timeout=WAIT_S * 2)
    finally:
        _kill_group(driver)
    assert driver.returncode == 0, stderr.decode()[-2000:]
    result = json.loads(stdout)
    assert result["computed"] + result["skipped"] == N_STUDIES and result["failed"] == 0
    _check_complete(out)


def test_the_driver_killed_and_the_batch_resumed(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        *CLI,
        "batch",
        "--manifest",
        str(cohort / "manifest.csv"),
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-png",
        "--json",
    ]
    driver = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        _wait(lambda: len(list(out.glob("p*/batch.json"))) >= 2, "two finished studies")
        driver.send_signal(signal.SIGKILL)  # the driver only; its cluster is orphaned
        driver.wait(timeout=30)
    finally:
        _kill_group(driver)  # and now the local cluster's processes, as a crash would
    finished = len(list(out.glob("p*/batch.json")))
    assert 2 <= finished < N_STUDIES
    resumed = subprocess.run(args, capture_output=True, timeout=WAIT_S * 2, check=False)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    result = json.loads(resumed.stdout)
    assert result["skipped"] >= finished and result["computed"] == N_STUDIES - result["skipped"]
    assert result["computed"] >= 1
    _check_complete(out)
