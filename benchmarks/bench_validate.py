"""Time of ``y90dose validate`` (target: default suite < 5 min on the 2-core machine) and
of one Monte Carlo S-value run (histories per second, one thread).

Run: ``python benchmarks/bench_validate.py [--mc]``. Prints JSON. Measured 2026-11-28 on
the development machine (2 shared cores): default suite 9-14 s with a warm phantom cache,
about 16 s cold; Monte Carlo 3 mm water, 200 000 decays, 9.5-12 s on one thread (16 000-21 000
decays/s); ``--full`` Monte Carlo reruns 96 s.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the timings; return the exit code."""
    from y90dose.validation_suite import run_suite

    out: dict[str, float | bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        cold = run_suite(cache=Path(tmp))
        out["default_suite_cold_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        warm = run_suite(cache=Path(tmp))
        out["default_suite_warm_s"] = time.monotonic() - t0
        out["passed"] = cold.passed and warm.passed
    if "--mc" in argv:
        from y90dose.phantoms.montecarlo.references import compute_s_values

        t0 = time.monotonic()
        compute_s_values(3.0, "water", n_histories=200_000)
        seconds = time.monotonic() - t0
        out["mc_s_values_200k_s"] = seconds
        out["mc_decays_per_s"] = 200_000 / seconds
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
