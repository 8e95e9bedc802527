"""Service throughput and latency under load, side by side with a bare FastAPI endpoint.

Starts, on 127.0.0.1 only, (1) a bare FastAPI app (one ``async`` POST endpoint that
parses a JSON body and answers a small JSON object) and (2) ``y90dose serve`` (SQLite in
a temporary data directory, and PostgreSQL when ``--postgres-url`` or
``Y90DOSE_TEST_POSTGRES_URL`` names a server), both served the same way: one uvicorn
process, default uvicorn protocol and loop, access log off. Each is
driven by the raw-socket keep-alive client of ``bench_service.py`` at each connection
count (default 8, 32, 128, 256), in one run:

- ``bare``: ``POST /bare`` on the bare app (the baseline);
- ``mird``: ``POST /v1/calculations/mird`` (target >= 0.8x bare at 8 and 32 connections);
- ``plans``: ``POST /v1/plans`` (target >= 0.3x bare at 8 and 32 connections).

Every phase is bounded by a request count and a time limit and follows a warm-up; the
phases take turns in ``--rounds`` rounds (bare, mird, plans, bare, mird, plans, ...),
each round a share of the count and the time, so that on a shared machine each phase
meets the same spells of the neighbours' load. Past
the service's concurrency limit a request may get 503 (counted, not an error). p50/p99
latencies are reported per phase, and the server process's CPU time per request (user +
system, from /proc): on a shared machine requests/s swing with the neighbours' load,
while CPU per request moves much less, so ``cpu_ratio_to_bare`` (bare CPU per request /
this phase's) is the steadier reading of the same cost.

Usage::

    .venv/bin/python benchmarks/bench_load.py [--connections 8,32,128,256]
        [--requests 3000] [--max-seconds 8] [--rounds 4]
        [--postgres-url URL | --no-postgres] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_service import (
    HOST,
    MIRD_BODY,
    PLAN_BODY,
    drive,
    free_port,
    request_bytes,
    start_server,
    summarize,
)

CLI = (sys.executable, "-m", "y90dose.cli.main")
TARGET_RATIO = {"mird": 0.8, "plans": 0.3}
TARGET_CONNECTIONS = (8, 32)
BARE_BODY = MIRD_BODY


def bare_app() -> Any:
    """The baseline: FastAPI with one endpoint doing the least a JSON API does."""
    app = FastAPI()

    @app.post("/bare")
    async def bare(request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"ok": True, "fields": len(body)}

    return app


def serve_bare(port: int) -> None:
    """Serve :func:`bare_app` as ``y90dose serve`` serves the service: one uvicorn process,
    default uvicorn protocol and loop, access log off, log level warning."""
    import uvicorn

    uvicorn.run(bare_app(), host=HOST, port=port, log_level="warning", access_log=False)


def start_bare(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(
                f"http://{HOST}:{port}/bare", data=b"{}", method="POST"
            )
            with urllib.request.urlopen(request, timeout=1) as r:
                if r.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the bare app did not start within 60 s")


def create_key(data_dir: Path, env: dict[str, str]) -> str:
    created = subprocess.run(
        [
            *CLI,
            "keys",
            "create",
            "--name",
            f"bench-{uuid.uuid4().hex[:8]}",
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
    key: str = json.loads(created.stdout)["key"]
    return key


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (None where /proc is absent)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Phase:
    """One phase (bare, mird or plans) at one connection count, measured over rounds."""

    def __init__(self, port: int, pid: int, payload: bytes, expect: int) -> None:
        self.port, self.pid, self.payload, self.expect = port, pid, payload, expect
        self.latencies: list[float] = []
        self.errors = self.busy = 0
        self.seconds = 0.0
        self.cpu_s: float | None = 0.0

    def warm_up(self, connections: int, requests: int) -> None:
        asyncio.run(drive(self.port, self.payload, requests, connections, 5, self.expect))

    def round(self, connections: int, requests: int, max_seconds: float) -> None:
        before = cpu_seconds(self.pid)
        result = asyncio.run(
            drive(
                self.port,
                self.payload,
                requests,
                connections,
                max_seconds,
                self.expect,
                self.latencies,
            )
        )
        after = cpu_seconds(self.pid)
        self.errors += result["errors"]
        self.busy += result["busy"]
        self.seconds += result["seconds"]
        if before is None or after is None or self.cpu_s is None:
            self.cpu_s = None
        else:
            self.cpu_s += after - before

    def result(self, connections: int) -> dict[str, Any]:
        result = summarize(self.latencies, self.errors, self.busy, self.seconds, connections)
        if self.cpu_s is not None and self.latencies:
            result["server_cpu_us_per_request"] = round(1e6 * self.cpu_s / len(self.latencies))
        return result


def run_database(
    name: str,
    url: str | None,
    bare: subprocess.Popen[bytes],
    bare_port: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("Y90DOSE_")}
    if url:
        env["Y90DOSE_DATABASE_URL"] = url
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="y90dose-load-") as tmp:
        data_dir = Path(tmp)
        key = create_key(data_dir, env)
        port = free_port()
        server = start_server(data_dir, port, env)
        try:
            bare_request = request_bytes("/bare", key, BARE_BODY)
            mird = request_bytes("/v1/calculations/mird", key, MIRD_BODY)
            plan = request_bytes("/v1/plans", key, PLAN_BODY)
            for connections in args.connections:
                phases = {
                    "bare": Phase(bare_port, bare.pid, bare_request, 200),
                    "mird": Phase(port, server.pid, mird, 200),
                    "plans": Phase(port, server.pid, plan, 201),
                }
                for each in phases.values():
                    each.warm_up(connections, min(300, args.requests))
                # the phases take turns, round by round: each meets the same spells of
                # the neighbours' load, so their ratios are fair on a shared machine
                for _ in range(args.rounds):
                    for each in phases.values():
                        each.round(
                            connections,
                            max(1, args.requests // args.rounds),
                            args.max_seconds / args.rounds,
                        )
                row = {name: each.result(connections) for name, each in phases.items()}
                bare_cpu = row["bare"].get("server_cpu_us_per_request")
                for what in TARGET_RATIO:
                    ratio = row[what]["requests_per_s"] / row["bare"]["requests_per_s"]
                    row[what]["ratio_to_bare"] = round(ratio, 3)
                    cpu = row[what].get("server_cpu_us_per_request")
                    if bare_cpu and cpu:
                        row[what]["cpu_ratio_to_bare"] = round(bare_cpu / cpu, 3)
                results[str(connections)] = row
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"database": name, "by_connections": results}


def verdicts(report: dict[str, Any]) -> list[str]:
    lines = []
    for db in report["databases"]:
        for connections in TARGET_CONNECTIONS:
            row = db["by_connections"].get(str(connections))
            if row is None:
                continue
            for what, target in TARGET_RATIO.items():
                ratio = row[what]["ratio_to_bare"]
                ok = ratio >= target and row[what]["errors"] == 0
                lines.append(
                    f"{db['database']:10s} {what:5s} @{connections:3d}: {ratio:.2f}x bare "
                    f"(target >= {target}x) {'meets' if ok else 'MISSES'}"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[8, 32, 128, 256],
        help="comma-separated connection counts (default 8,32,128,256)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="per phase (default 3000)")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="per phase limit (8)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="turns the phases take, each a share (4)"
    )
    parser.add_argument("--postgres-url", default=os.environ.get("Y90DOSE_TEST_POSTGRES_URL"))
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0

    bare_port = free_port()
    bare_server = start_bare(bare_port)
    try:
        databases = [run_database("sqlite", None, bare_server, bare_port, args)]
        if args.postgres_url and not args.no_postgres:
            databases.append(
                run_database("postgresql", args.postgres_url, bare_server, bare_port, args)
            )
    finally:
        bare_server.terminate()
        bare_server.wait(timeout=30)
    report = {"cpus": os.cpu_count(), "databases": databases, "target_ratio": TARGET_RATIO}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{os.cpu_count()} CPUs; client and servers share them; loopback only")
    header = f"{'database':10s} {'conn':>4s} {'phase':5s} {'req/s':>8s} {'x bare':>6s} "
    header += f"{'CPU us':>7s} {'x bare':>6s} "
    print(header + f"{'p50 ms':>7s} {'p99 ms':>7s} {'503':>5s} {'errors':>6s}")
    for db in databases:
        for connections, row in db["by_connections"].items():
            for what, result in row.items():
                lat = result["latency_ms"]
                ratio = result.get("ratio_to_bare")
                cpu = result.get("server_cpu_us_per_request")
                cpu_ratio = result.get("cpu_ratio_to_bare")
                print(
                    f"{db['database']:10s} {connections:>4s} {what:5s} "
                    f"{result['requests_per_s']:8.1f} "
                    f"{'' if ratio is None else f'{ratio:.2f}':>6s} "
                    f"{'' if cpu is None else cpu:>7} "
                    f"{'' if cpu_ratio is None else f'{cpu_ratio:.2f}':>6s} "
                    f"{lat['p50']:7.1f} {lat['p99']:7.1f} {result.get('busy', 0):5d} "
                    f"{result['errors']:6d}"
                )
    print("\n".join(verdicts(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
