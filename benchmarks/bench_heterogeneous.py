"""Heterogeneous engine vs the soft-tissue DVK, side by side in one run (issue 10 §2).

A 128^3 torso at 4 mm: body (1.04 g/mL) in air, liver (1.06) with noisy uniform activity,
two lungs (0.26). Second case: the same torso with the grid's top face 40 mm above the
liver dome, as a SPECT field of view that cuts the lungs (the engine then also follows the
lung energy beyond the grid). Target: heterogeneous_dose at most 5x dvk_dose. Each engine
is run once to warm its kernel caches, then timed (best of ``--repeats``).

    python benchmarks/bench_heterogeneous.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from y90dose.voxel.convolution import dvk_dose
from y90dose.voxel.heterogeneous import heterogeneous_dose

TARGET_RATIO = 5.0


def torso(n: int = 128, h: float = 4.0, z_shift_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Activity (GBq) and density (g/mL) of the benchmark torso (liver dome at z = 70 mm;
    the grid's z runs from -256 mm + ``z_shift_mm``)."""
    z, y, x = np.meshgrid(*(((np.arange(n) - n / 2) * h),) * 3, indexing="ij")
    z = z + z_shift_mm
    body = (y / 180) ** 2 + (x / 230) ** 2 < 1
    liver = body & (((z + 40) ** 2 + (y + 20) ** 2 + (x + 60) ** 2) < 110**2)
    lung = body & ~liver & (z > -20) & (np.abs(x) > 30) & ((y / 150) ** 2 + (x / 200) ** 2 < 1)
    rho = np.where(body, 1.04, 0.0012)
    rho = np.where(liver, 1.06, rho)
    rho = np.where(lung, 0.26, rho)
    rng = np.random.default_rng(1)
    noise = (1 + 0.2 * rng.standard_normal(liver.shape)).clip(0)
    return np.where(liver, 1e-4, 0.0) * noise, rho


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "torso": torso(),
        "torso, grid top 40 mm above the dome": torso(z_shift_mm=-142.0),
    }
    for case, (activity, density) in cases.items():
        print(case)
        times: dict[str, float] = {}
        for name, engine in (("dvk", dvk_dose), ("heterogeneous", heterogeneous_dose)):
            engine(activity, spacing_zyx_mm=4.0, density_g_ml=density)
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                engine(activity, spacing_zyx_mm=4.0, density_g_ml=density)
                best = min(best, time.perf_counter() - start)
            times[name] = best
            print(f"  {name:14s} {best:7.3f} s")
        ratio = times["heterogeneous"] / times["dvk"]
        verdict = "ok" if ratio <= TARGET_RATIO else "OVER"
        print(f"  ratio {ratio:.2f}x (target <= {TARGET_RATIO:g}x): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
