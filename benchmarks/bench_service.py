"""Throughput and latency of the planning service on loopback.

Starts ``y90dose serve`` (one uvicorn process, default settings) on 127.0.0.1 with a
temporary data directory, creates an API key, and drives it with a small asyncio
HTTP/1.1 client (keep-alive connections, one request in flight per connection; raw
sockets so that the client costs little CPU on a 2-core machine):

1. ``POST /v1/calculations/mird`` (target: > 500 requests/s, p99 < 50 ms);
2. ``POST /v1/plans`` on SQLite (target: > 100 requests/s).

Each phase is bounded by a request count and a time limit; a warm-up precedes it.
Latency is measured per request from send to last body byte. Only loopback is used.

Usage::

    .venv/bin/python benchmarks/bench_service.py [--json] [--requests 5000]
        [--concurrency 8] [--max-seconds 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
MIRD_BODY = {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08}
PLAN_BODY = {
    "patient_ref": "BENCH",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": MIRD_BODY,
}
TARGETS: dict[str, dict[str, float | None]] = {
    "mird": {"min_rps": 500.0, "max_p99_ms": 50.0},
    "plans": {"min_rps": 100.0, "max_p99_ms": None},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "y90dose.cli.main",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start within 60 s")


def request_bytes(path: str, key: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def drive(
    port: int,
    payload: bytes,
    requests: int,
    concurrency: int,
    max_seconds: float,
    expect: int,
    latencies: list[float] | None = None,
) -> dict[str, Any]:
    """Drive ``payload`` over ``concurrency`` keep-alive connections; the latencies (s)
    are appended to ``latencies`` when given (to merge several phases)."""
    latencies = [] if latencies is None else latencies
    already = len(latencies)
    errors = 0
    busy = 0  # 503 with Retry-After past the service's concurrency limit: not an error
    remaining = [requests]
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal errors, busy
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while remaining[0] > 0 and time.perf_counter() < deadline:
                remaining[0] -= 1
                start = time.perf_counter()
                writer.write(payload)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                if status == 503:
                    busy += 1
                elif status != expect:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return summarize(latencies[already:], errors, busy, elapsed, concurrency)


def summarize(
    latencies: list[float], errors: int, busy: int, elapsed: float, concurrency: int
) -> dict[str, Any]:
    """Requests/s and latency percentiles (ms) of one phase, or of several merged."""
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {
        "requests": len(ordered),
        "errors": errors,
        "busy": busy,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(ordered) / elapsed, 1),
        "latency_ms": {
            "mean": round(1000 * statistics.fmean(ordered), 2),
            "p50": round(pct(50), 2),
            "p95": round(pct(95), 2),
            "p99": round(pct(99), 2),
            "max": round(1000 * ordered[-1], 2),
        },
        "concurrency": concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="per phase (default 5000)")
    parser.add_argument("--plan-requests", type=int, default=2000, help="plans phase (2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (default 8)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="per phase limit")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if not k.startswith("Y90DOSE_")}
    if args.database_url:
        env["Y90DOSE_DATABASE_URL"] = args.database_url
    with tempfile.TemporaryDirectory(prefix="y90dose-bench-") as tmp:
        data_dir = Path(tmp)
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "y90dose.cli.main",
                "keys",
                "create",
                "--name",
                "bench",
                "--role",
                "approver",
                "--json",
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(created.stdout)["key"]
        port = free_port()
        server = start_server(data_dir, port, env)
        try:
            mird = request_bytes("/v1/calculations/mird", key, MIRD_BODY)
            plan = request_bytes("/v1/plans", key, PLAN_BODY)
            asyncio.run(drive(port, mird, 300, args.concurrency, 10, 200))  # warm-up
            results = {
                "mird": asyncio.run(
                    drive(port, mird, args.requests, args.concurrency, args.max_seconds, 200)
                ),
                "plans": asyncio.run(
                    drive(port, plan, args.plan_requests, args.concurrency, args.max_seconds, 201)
                ),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    database = "postgresql" if args.database_url else "sqlite"
    report = {"database": database, "cpus": os.cpu_count(), "results": results, "targets": TARGETS}
    for name, result in results.items():
        min_rps, max_p99_ms = TARGETS[name]["min_rps"], TARGETS[name]["max_p99_ms"]
        ok = result["errors"] == 0 and result["requests_per_s"] >= (min_rps or 0.0)
        if max_p99_ms is not None:
            ok = ok and result["latency_ms"]["p99"] <= max_p99_ms
        result["meets_target"] = ok
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, result in results.items():
            lat = result["latency_ms"]
            print(
                f"{name:6s} {result['requests']:6d} req in {result['seconds']:6.2f} s = "
                f"{result['requests_per_s']:7.1f} req/s  p50 {lat['p50']:.1f} ms  p99 "
                f"{lat['p99']:.1f} ms  max {lat['max']:.1f} ms  errors {result['errors']}  "
                f"({'meets' if result['meets_target'] else 'MISSES'} target {TARGETS[name]})"
            )
        print(f"database {database}, {os.cpu_count()} CPUs, {args.concurrency} connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
