"""What a zip bomb costs the service (issue 9, defect 3): time and bytes written.

A 1 GiB file of zeros deflated into a zip of about 1 MB is uploaded to the app (in
process, TestClient); the request's wall time and the bytes this process wrote
(``wchar`` of ``/proc/self/io``: the spooled upload and everything unpacked) are printed
with the answer's status. Run it on a checkout of the previous code
(``PYTHONPATH=<old tree>``) for the baseline.

Run: ``.venv/bin/python benchmarks/bench_upload_bomb.py [--mib 1024]``
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from y90dose_service.main import create_app
from y90dose_service.security import create_key
from y90dose_service.settings import ServiceSettings


def written_bytes() -> int:
    """Bytes this process has passed to write() so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def bomb(mib: int) -> bytes:
    """A zip of one entry, ``mib`` MiB of zeros, deflated."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("CT/bomb.dcm", "w", force_zip64=True) as entry,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(mib):
            entry.write(chunk)
    return buffer.getvalue()


def main() -> None:
    """Upload the bomb once and print what it cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="unpacked size (MiB)")
    args = parser.parse_args()
    archive = bomb(args.mib)
    with tempfile.TemporaryDirectory(prefix="bench-bomb-") as tmp:
        app = create_app(ServiceSettings(data_dir=Path(tmp)))
        with app.state.sessionmaker() as session:
            _, key = create_key(session, "p", "planner")
            session.commit()
        with TestClient(app) as client:
            before, start = written_bytes(), time.perf_counter()
            response = client.post(
                "/v1/studies",
                files={"file": ("s.zip", archive, "application/zip")},
                headers={"X-API-Key": key},
            )
            elapsed, written = time.perf_counter() - start, written_bytes() - before
    status = response.status_code
    print(f"zip {len(archive) / 1e6:.2f} MB unpacking to {args.mib} MiB: HTTP {status}")
    print(f"request time {elapsed:.2f} s, bytes written {written / 1e6:.1f} MB")
    print(f"answer: {response.json()['detail'][:160]}")


if __name__ == "__main__":
    main()
