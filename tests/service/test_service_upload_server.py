"""Upload limits on the real server (``y90dose serve`` in a subprocess): concurrent
uploads past the limit get 429 with Retry-After, a slot comes back when its client goes
away, only a planner's upload takes a slot (clients without a valid key cannot hold
them), a stalled upload is dropped with 408 and frees its slot, and a refused deep
entry leaves the connection usable for the next request."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from service_helpers import dicom_bytes, make_zip
from service_server import START_TIMEOUT_S, command_env, create_key, free_port, start, stop

MAX_CONCURRENT = 2
WAIT_S = 10.0


@contextmanager
def server(data_dir: Path, db_url: str, **settings: str) -> Iterator[str]:
    """``y90dose serve`` with extra ``Y90DOSE_*`` settings; stopped (SIGINT) at the end."""
    env = command_env(db_url) | {f"Y90DOSE_{k.upper()}": v for k, v in settings.items()}
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "y90dose.cli.main",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def planner_key(data_dir: Path, db_url: str) -> str:
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "y90dose.cli.main",
            "keys",
            "create",
            "--name",
            "p",
            "--role",
            "planner",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
        env=command_env(db_url),
        capture_output=True,
        text=True,
        check=True,
    )
    key: str = json.loads(created.stdout)["key"]
    return key


def held_upload(base: str, key: str | None) -> socket.socket:
    """An upload whose body never finishes (sent with ``key``, or none): a planner's holds
    an upload slot until closed or dropped."""
    port = int(base.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    auth = b"" if key is None else f"X-API-Key: {key}\r\n".encode()
    sock.sendall(
        b"POST /v1/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"Content-Type: "
        b"multipart/form-data; boundary=x\r\nContent-Length: 1000000\r\n\r\n--x\r\n"
    )
    return sock


def status_of(sock: socket.socket) -> int:
    """The status code of the response on ``sock`` (waits at most WAIT_S for it)."""
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed without a response: {head!r}")
        head += chunk
    return int(head.split(b" ", 2)[1])


def until(status: Callable[[int], bool], attempt: Callable[[], httpx.Response]) -> httpx.Response:
    """Call ``attempt()`` until its response's status passes ``status`` or WAIT_S is over."""
    deadline = time.monotonic() + WAIT_S
    while True:
        response = attempt()
        if status(response.status_code) or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


@pytest.mark.slow
def test_concurrent_uploads_past_the_limit_get_429(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "server-data"
    with server(data_dir, db_url):  # first start creates the database
        pass
    key = planner_key(data_dir, db_url)
    headers = {"X-API-Key": key}
    study = make_zip({"CT/a.dcm": dicom_bytes()})
    with server(data_dir, db_url, upload_max_concurrent=str(MAX_CONCURRENT)) as base:
        held = [held_upload(base, key) for _ in range(MAX_CONCURRENT)]
        try:

            def post() -> httpx.Response:
                return httpx.post(
                    f"{base}/v1/studies", files={"file": ("s.zip", study)}, headers=headers
                )

            refused = until(lambda code: code == 429, post)
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "10"
            assert refused.headers["content-type"] == "application/problem+json"
            assert "upload_max_concurrent" in refused.json()["detail"]
            assert httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200
            reads = httpx.get(f"{base}/v1/studies", headers=headers)
            assert reads.status_code == 200  # other requests are not limited
        finally:
            for sock in held:
                sock.close()
        accepted = until(lambda code: code != 429, post)  # the slots come back
        assert accepted.status_code == 201, accepted.text
        listing = httpx.get(f"{base}/v1/studies", headers=headers).json()
        assert listing["total"] == 1


@pytest.mark.slow
def test_uploads_without_a_valid_key_hold_no_slot(tmp_path: Path, db_url: str) -> None:
    """Before: anyone reaching the port took an upload slot before the key was checked, so
    a few slow bodies without a key made every planner's upload a 429."""
    data_dir = tmp_path / "server-data"
    with server(data_dir, db_url):
        pass
    key = planner_key(data_dir, db_url)
    study = make_zip({"CT/a.dcm": dicom_bytes()})
    with server(data_dir, db_url, upload_max_concurrent=str(MAX_CONCURRENT)) as base:
        strangers = [held_upload(base, None) for _ in range(2 * MAX_CONCURRENT)]
        strangers += [held_upload(base, "y90_not-a-key") for _ in range(2 * MAX_CONCURRENT)]
        try:
            # each is refused at once, before its body is read
            assert [status_of(sock) for sock in strangers] == [401] * len(strangers)
            accepted = httpx.post(
                f"{base}/v1/studies",
                files={"file": ("s.zip", study)},
                headers={"X-API-Key": key},
                timeout=WAIT_S,
            )
            assert accepted.status_code == 201, accepted.text
        finally:
            for sock in strangers:
                sock.close()


@pytest.mark.slow
def test_a_stalled_upload_is_dropped_with_408_and_frees_its_slot(
    tmp_path: Path, db_url: str
) -> None:
    data_dir = tmp_path / "server-data"
    with server(data_dir, db_url):
        pass
    key = planner_key(data_dir, db_url)
    study = make_zip({"CT/a.dcm": dicom_bytes()})
    settings = {"upload_max_concurrent": "1", "upload_idle_timeout_seconds": "1"}
    with server(data_dir, db_url, **settings) as base:
        stalled = held_upload(base, key)  # takes the only slot, then sends nothing
        try:
            began = time.monotonic()
            assert status_of(stalled) == 408
            assert time.monotonic() - began < WAIT_S
        finally:
            stalled.close()
        accepted = httpx.post(
            f"{base}/v1/studies",
            files={"file": ("s.zip", study)},
            headers={"X-API-Key": key},
            timeout=WAIT_S,
        )
        assert accepted.status_code == 201, accepted.text


@pytest.mark.slow
def test_deep_entry_is_422_and_the_connection_stays_usable(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "d"
    with server(data_dir, db_url):
        pass
    headers = {"X-API-Key": planner_key(data_dir, db_url)}
    # as deep as the server's PATH_MAX allows (else the OS refuses the name first)
    studies = str((data_dir / "studies").resolve())
    levels = (4096 - len(studies) - len("/<a study id: 36 characters>/files/x.dcm") - 20) // 2
    assert levels > 1500
    deep = make_zip({"a/" * levels + "x.dcm": dicom_bytes()})
    with server(data_dir, db_url) as base, httpx.Client(base_url=base, headers=headers) as client:
        refused = client.post("/v1/studies", files={"file": ("s.zip", deep)})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["value"].startswith("a/a/a/")
        again = client.get("/v1/studies")  # the same keep-alive connection
        assert again.status_code == 200 and again.json()["total"] == 0
    assert not (data_dir / "studies").exists() or not any((data_dir / "studies").iterdir())


@pytest.mark.slow
def test_sigterm_with_uploads_in_flight_stops_without_a_traceback(
    tmp_path: Path, db_url: str
) -> None:
    """Before: two planners' uploads still streaming at SIGTERM were cancelled after the
    grace period and each logged ``Exception in ASGI application`` with a traceback."""
    data_dir = tmp_path / "server-data"
    env = command_env(db_url, shutdown_grace_seconds="1")
    started = start(data_dir, env)  # first start creates the database
    stop(started)
    key = create_key(data_dir, env, "p", "planner")["Authorization"].removeprefix("Bearer ")
    running = start(data_dir, env)
    held = [held_upload(running.base, key) for _ in range(2)]
    try:
        time.sleep(1.0)  # both bodies are being read: each holds an upload slot
        stopped_after = stop(running, signal.SIGTERM)
    finally:
        for sock in held:
            sock.close()
        stop(running, signal.SIGKILL)
    assert stopped_after <= 10.0, running.stderr
    # uvicorn ends a signalled process with the signal itself; 1 is the hard deadline's exit
    assert running.process.returncode in (0, -signal.SIGTERM), running.stderr
    assert running.stderr.count("cancelled: the service stopped") == 2, running.stderr
    assert "Traceback" not in running.stderr, running.stderr
    assert "Exception in ASGI application" not in running.stderr, running.stderr
