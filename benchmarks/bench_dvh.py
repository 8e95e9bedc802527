"""DVH and dose metrics of 4 VOIs on a 256^3 dose map: the first release vs now.

Run: ``.venv/bin/python benchmarks/bench_dvh.py [--n 256] [--repeats 5] [--before REV]``

Before (issue 10): the pipeline called ``dose_metrics`` and ``cumulative_dvh`` for each
VOI, and each call checked the whole grid, extracted the VOI's doses as float64 and
argsorted them (a float64 map copy of a float32 density map too), with one cumulative sum
per D_x. Now: ``VoiDoses.from_mask`` once per VOI (one extraction, one sort, float32 kept),
then ``.metrics()`` and ``.dvh()``. The first release's ``y90dose/dvh.py`` is read from git
(``--before``, default the commit before issue 10) and timed in the same process,
interleaved with the current one; the results are compared (D_x and V_t identical).
The VOIs: a liver ellipsoid (~26 % of the grid), a tumour sphere, the normal liver (liver
minus tumour) and a lung slab above the liver; dose float32 as the pipeline's; density
1.03 g/mL (no CT) and a float32 density map (with CT).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from y90dose.dvh import VoiDoses

ROOT = Path(__file__).resolve().parent.parent
BEFORE_COMMIT = "3d71d7e"
THRESHOLDS_GY = (100.0, 120.0, 150.0, 200.0, 205.0, 400.0)


def _old_dvh(revision: str) -> ModuleType:
    text = subprocess.run(
        ["git", "show", f"{revision}:y90dose/dvh.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="y90dose-bench-dvh-")) / "dvh_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("dvh_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dvh_before"] = module
    spec.loader.exec_module(module)
    return module


def _scene(n: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[:n, :n, :n]
    c = (n - 1) / 2
    liver = ((z - c) / (0.4 * n)) ** 2 + ((y - c) / (0.35 * n)) ** 2 + (
        (x - c) / (0.45 * n)
    ) ** 2 <= 1.0
    tumour = (z - c) ** 2 + (y - 0.6 * n) ** 2 + (x - 0.4 * n) ** 2 <= (0.08 * n) ** 2
    lungs = np.zeros((n, n, n), dtype=bool)
    lungs[int(0.9 * n) :, int(0.2 * n) : int(0.8 * n), int(0.1 * n) : int(0.9 * n)] = True
    dose = rng.gamma(4.0, 20.0, (n, n, n)).astype(np.float32) * (0.05 + liver)
    dose[tumour] *= 5.0
    density = np.where(lungs, np.float32(0.3), np.float32(1.04)).astype(np.float32)
    vois = {"liver": liver, "tumor1": tumour, "normal_liver": liver & ~tumour, "lungs": lungs}
    return dose, vois, density


def _before(old: ModuleType, dose: np.ndarray, vois: dict[str, np.ndarray], density: Any) -> Any:
    out = {}
    for name, mask in vois.items():
        metrics = old.dose_metrics(
            dose,
            mask,
            spacing_mm=4.0,
            voi_name=name,
            density_g_ml=density,
            v_thresholds_gy=THRESHOLDS_GY,
        )
        dvh = old.cumulative_dvh(
            dose, mask, spacing_mm=4.0, bin_width_gy=1.0, density_g_ml=density, voi_name=name
        )
        out[name] = (metrics, dvh)
    return out


def _after(dose: np.ndarray, vois: dict[str, np.ndarray], density: Any) -> Any:
    out = {}
    for name, mask in vois.items():
        voi = VoiDoses.from_mask(
            dose, mask, spacing_zyx_mm=4.0, density_g_ml=density, voi_name=name
        )
        out[name] = (voi.metrics(v_thresholds_gy=THRESHOLDS_GY), voi.dvh(bin_width_gy=1.0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default=BEFORE_COMMIT, help="git revision of 'before'")
    args = parser.parse_args()
    old = _old_dvh(args.before)
    dose, vois, density_map = _scene(args.n)
    sizes = ", ".join(f"{k} {int(v.sum())}" for k, v in vois.items())
    print(f"{args.n}^3 float32 dose, VOI voxels: {sizes}; median of {args.repeats}")
    print(f"{'density':>14} {'before s':>9} {'after s':>8} {'speed-up':>9}")
    for label, density in (("1.03 g/mL", 1.03), ("float32 map", density_map)):
        times: dict[str, list[float]] = {"before": [], "after": []}
        results: dict[str, Any] = {}
        for _ in range(args.repeats):
            for key, func in (
                ("before", lambda d=density: _before(old, dose, vois, d)),
                ("after", lambda d=density: _after(dose, vois, d)),
            ):
                start = time.perf_counter()
                results[key] = func()
                times[key].append(time.perf_counter() - start)
        for name in vois:
            (m_old, h_old), (m_new, h_new) = results["before"][name], results["after"][name]
            assert m_old.d_gy == m_new.d_gy and m_old.v_percent == m_new.v_percent, name
            assert np.allclose(h_old.volume_percent, h_new.volume_percent, rtol=1e-12), name
            assert abs(m_old.mean_gy - m_new.mean_gy) <= 1e-12 * m_old.mean_gy, name
        before, after = float(np.median(times["before"])), float(np.median(times["after"]))
        print(f"{label:>14} {before:>9.3f} {after:>8.3f} {before / after:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
