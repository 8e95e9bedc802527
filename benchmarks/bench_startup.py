"""CPU time of the ``y90dose`` command's start, side by side with its baseline.

Target (issue 9, defect 9): each planning command (``plan mird/partition/bsa``, ``decay``,
``vial``, ``lsf``) and ``y90dose --help`` uses at most 1.5x the CPU time (user + system)
of ``python -c "import pydantic, numpy"``, measured in the same run.

Each command runs as a fresh process ``ROUNDS`` times, interleaved with the baseline so
that a load change on the shared machine hits both alike; the median of each is reported
with its ratio to the baseline's median. Prints JSON; exits 1 when a command misses the
target (``--no-check`` reports only).

Run: ``python benchmarks/bench_startup.py [--rounds N] [--no-check]``.

Measured on the 2-core development machine (medians, CPU s, ratio to the baseline):

=================  ==========================  ==============================
command            before (baseline 0.202 s)   after (baseline 0.194-0.244 s)
=================  ==========================  ==============================
``--help``         1.021 (5.06x)               0.062-0.086 (0.32-0.35x)
``plan mird``      0.993 (4.92x)               0.203-0.321 (1.05-1.31x)
``plan partition`` 0.931 (4.61x)               0.203-0.322 (1.05-1.32x)
``plan bsa``       0.961 (4.76x)               0.236-0.309 (1.22-1.26x)
``decay``          0.934 (4.63x)               0.205-0.288 (1.06-1.18x)
``vial``           0.944 (4.67x)               0.228-0.297 (1.17-1.21x)
``lsf``            0.955 (4.73x)               0.205-0.285 (1.06-1.16x)
=================  ==========================  ==============================
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

TARGET_RATIO = 1.5
ROUNDS = 7

BASELINE = [sys.executable, "-c", "import pydantic, numpy"]
Y90DOSE = [sys.executable, "-c", "import sys; from y90dose.cli.main import main; sys.exit(main())"]

COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "plan mird": [
        "plan",
        "mird",
        "--target-dose-gy",
        "120",
        "--perfused-volume-ml",
        "1165",
        "--lsf",
        "0.08",
        "--json",
    ],
    "plan partition": [
        "plan",
        "partition",
        "--normal-dose-gy",
        "40",
        "--tumor-volume-ml",
        "200",
        "--tn-ratio",
        "3",
        "--normal-volume-ml",
        "1200",
        "--lsf",
        "0.06",
        "--json",
    ],
    "plan bsa": [
        "plan",
        "bsa",
        "--height-cm",
        "175",
        "--weight-kg",
        "75",
        "--tumor-volume-ml",
        "450",
        "--liver-volume-ml",
        "1500",
        "--lsf",
        "0.12",
        "--treated-volume-ml",
        "900",
        "--json",
    ],
    "decay": [
        "decay",
        "--activity-gbq",
        "5",
        "--from",
        "2026-03-01T12:00:00-05:00",
        "--to",
        "2026-03-03T12:00:00-05:00",
        "--json",
    ],
    "vial": [
        "vial",
        "--activity-gbq",
        "3.1",
        "--treatment-time",
        "2026-03-04T10:00:00-05:00",
        "--prescribed-dose-gy",
        "120",
        "--json",
    ],
    "lsf": [
        "lsf",
        "--lung-ant",
        "12000",
        "--lung-post",
        "10000",
        "--liver-ant",
        "150000",
        "--liver-post",
        "180000",
        "--json",
    ],
}


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU time of one run of ``argv`` (its exit code is not checked here)."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped by wait4
    return usage.ru_utime + usage.ru_stime


def check_commands_run() -> None:
    """Every command exits 0 (a failing command would measure its error path)."""
    for name, args in COMMANDS.items():
        done = subprocess.run([*Y90DOSE, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{name}: exit {done.returncode}: {done.stderr.strip()}")


def main(argv: list[str]) -> int:
    """Measure; print JSON; return 1 when a command misses the target (unless --no-check)."""
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else ROUNDS
    check_commands_run()
    samples: dict[str, list[float]] = {"baseline": [], **{name: [] for name in COMMANDS}}
    started = time.monotonic()
    for _ in range(rounds):
        for name, args in COMMANDS.items():
            samples["baseline"].append(cpu_seconds(BASELINE))
            samples[name].append(cpu_seconds([*Y90DOSE, *args]))
    baseline = statistics.median(samples["baseline"])
    report: dict[str, object] = {
        "python": sys.version.split()[0],
        "rounds": rounds,
        "wall_s": round(time.monotonic() - started, 1),
        "baseline_cmd": 'python -c "import pydantic, numpy"',
        "baseline_cpu_s": round(baseline, 3),
        "target_ratio": TARGET_RATIO,
        "commands": {
            name: {
                "cpu_s": round(statistics.median(values), 3),
                "ratio": round(statistics.median(values) / baseline, 2),
            }
            for name, values in samples.items()
            if name != "baseline"
        },
    }
    print(json.dumps(report, indent=2))
    commands = report["commands"]
    assert isinstance(commands, dict)
    missed = [name for name, row in commands.items() if row["ratio"] > TARGET_RATIO]
    if missed and "--no-check" not in argv:
        print(f"over {TARGET_RATIO}x the baseline: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
