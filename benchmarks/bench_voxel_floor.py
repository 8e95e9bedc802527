"""A whole ``y90dose voxel`` run against its I/O floor: time and peak memory (issue 10, §3).

Targets (issue 10, section 3), side by side in one run:

- a whole ``y90dose voxel`` run with every default output (NIfTI maps, RT Dose, BED/EQD2,
  VOI masks, DVHs, PNGs) within 3x the I/O floor;
- peak memory at 256^3 at most 6x the float32 input.

The *I/O floor* is a fresh process that imports numpy, scipy.fft and SimpleITK, reads the
same emission image with SimpleITK (``ImageSeriesReader`` for a DICOM series,
``ReadImage`` for a NIfTI file), makes it float32 and convolves it once:
``irfftn(rfftn(a, s=P) * rfftn(k, s=P), s=P)`` with P = ``next_fast_len(N + K // 2)`` per
axis, K the DVK kernel's size for the image's voxel size, every core (``workers=-1``). It
writes nothing. The *run* is ``y90dose voxel`` in a fresh process (what the command line
does), every default output. Both wall times are taken by this process around the child
(interpreter start and imports included in both); the peak RSS is the child's
``ru_maxrss``. A third process that only imports what a run imports gives the memory
baseline. Runs are interleaved (floor, run, floor, run...) so that a load change on the
shared machine hits both alike; medians and ranges are printed.

Cases: the Lu-177 SPECT study in ``../shared/datasets/lu177-spect-liver-lesions`` (256 x
256 x 199 PT series in Bq/mL, RTSTRUCT of two lesions; skipped when absent) and a
synthetic 256^3 NIfTI SPECT (4.8 mm) with a label map of a liver and a tumour (4 VOIs with
the normal liver and the tumour union the run adds), the study of
``bench_voxel_memory.py``.

Run: ``.venv/bin/python benchmarks/bench_voxel_floor.py [--rounds 3] [--size 256]
[--case lu177 synthetic] [--before DIR] [--json]``

Measured figures (before and after issue 10's speed work): docs/voxel-pipeline.md, "Speed".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_voxel_memory import write_study

ROOT = Path(__file__).resolve().parents[1]
LU177 = ROOT / ".." / "shared" / "datasets" / "lu177-spect-liver-lesions" / "SCAN_001"
TARGET_TIME_RATIO = 3.0
TARGET_MEMORY_X_INPUT = 6.0

FLOOR = """
import resource, sys
import numpy as np
import scipy.fft
import SimpleITK as sitk

path, kernel_size = sys.argv[1], int(sys.argv[2])
if path.endswith((".nii", ".nii.gz")):
    image = sitk.ReadImage(path)
else:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(path))
    image = reader.Execute()
grid = sitk.GetArrayViewFromImage(image).astype(np.float32)
shape = [scipy.fft.next_fast_len(n + kernel_size // 2, True) for n in grid.shape]
kernel = np.ones((kernel_size,) * 3, dtype=np.float32) / kernel_size**3
spectrum = scipy.fft.rfftn(grid, s=shape, workers=-1)
spectrum *= scipy.fft.rfftn(kernel, s=shape, workers=-1)
dose = scipy.fft.irfftn(spectrum, s=shape, workers=-1)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_maxrss * 1024, grid.nbytes, usage.ru_utime + usage.ru_stime, 0)
"""

RUN = """
import resource, sys
if sys.argv[1] == "import":
    import y90dose.cli.voxel, y90dose.pipeline.outputs, y90dose.pipeline.voxel_run  # noqa
    code = 0
else:
    from y90dose.cli.main import main
    code = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_maxrss * 1024, 0, usage.ru_utime + usage.ru_stime, code)
"""


@dataclass(frozen=True)
class Case:
    """One study: the run's CLI arguments and what the floor reads."""

    name: str
    floor_args: list[str]
    run_args: list[str]


@dataclass(frozen=True)
class Sample:
    """One child process: wall time, peak RSS, float32 input size (floor), CPU time."""

    seconds: float
    peak_rss_bytes: int
    input_bytes: int
    cpu_seconds: float


def _child(code: str, argv: list[str], pythonpath: str | None = None) -> Sample:
    """Wall time (from here) and peak RSS of a fresh Python process running ``code``.

    ``pythonpath``: a folder whose ``y90dose`` package is imported instead of this one.
    """
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=1800, env=env
    )
    elapsed = time.perf_counter() - start
    fields = done.stdout.split()[-4:] if done.stdout else []
    if done.returncode != 0 or len(fields) != 4 or fields[3] != "0":
        raise SystemExit(f"child {argv[:2]} failed: {done.stdout[-500:]}{done.stderr[-2000:]}")
    return Sample(elapsed, int(fields[0]), int(fields[1]), float(fields[2]))


def _kernel_size(spacing_mm: float) -> int:
    """The DVK kernel's size (voxels per axis) the run uses at this voxel size."""
    from y90dose.voxel.kernels import voxel_kernel

    return int(voxel_kernel((spacing_mm,) * 3).s_mgy_per_mbq_s.shape[0])


def lu177_case(out: Path) -> Case | None:
    """The Lu-177 study (None when ``../shared/datasets`` is absent)."""
    if not (LU177 / "image").is_dir():
        return None
    rois = next((LU177 / "mask").glob("*.dcm"))
    run = ["voxel", "--spect", str(LU177 / "image"), "--rois", str(rois), "--out", str(out)]
    return Case("Lu-177 SPECT 256x256x199", [str(LU177 / "image"), str(_kernel_size(1.9531))], run)


def synthetic_case(folder: Path, n: int) -> Case:
    """A synthetic N^3 NIfTI SPECT with a label map (bench_voxel_memory's study)."""
    run = write_study(folder, n, pngs=True)
    return Case(
        f"synthetic {n}^3, 4 VOIs", [str(folder / "spect.nii.gz"), str(_kernel_size(4.8))], run
    )


def _out_of(case: Case) -> Path:
    return Path(case.run_args[case.run_args.index("--out") + 1])


def _clear(out: Path) -> None:
    if out.is_dir():
        for path in sorted(out.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        out.rmdir()


def _range(values: list[float]) -> str:
    """Median (min-max)."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def measure(
    case: Case, rounds: int, baseline: Sample, before: str | None = None
) -> dict[str, object]:
    """Floor and run (and the ``before`` code's run) interleaved ``rounds`` times."""
    floors: list[Sample] = []
    runs: list[Sample] = []
    befores: list[Sample] = []
    for _ in range(rounds):
        floors.append(_child(FLOOR, case.floor_args))
        _clear(_out_of(case))
        runs.append(_child(RUN, case.run_args))
        if before:
            _clear(_out_of(case))
            befores.append(_child(RUN, case.run_args, before))
    input_bytes = floors[0].input_bytes
    result: dict[str, object] = {"case": case.name, "input_mb": input_bytes / 1e6}
    result["floor_s"] = [s.seconds for s in floors]
    result["floor_cpu_s"] = [s.cpu_seconds for s in floors]
    result["floor_peak_mb"] = max(s.peak_rss_bytes for s in floors) / 1e6
    result["import_peak_mb"] = baseline.peak_rss_bytes / 1e6
    for label, samples in (("run", runs), ("before", befores)):
        if not samples:
            continue
        peak = max(s.peak_rss_bytes for s in samples)
        seconds = [s.seconds for s in samples]
        result[f"{label}_s"] = seconds
        result[f"{label}_cpu_s"] = [s.cpu_seconds for s in samples]
        result[f"{label}_time_ratio"] = statistics.median(seconds) / statistics.median(
            result["floor_s"]  # type: ignore[arg-type]
        )
        result[f"{label}_peak_mb"] = peak / 1e6
        result[f"{label}_peak_x_input"] = peak / input_bytes
        result[f"{label}_above_import_x_input"] = (peak - baseline.peak_rss_bytes) / input_bytes
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"\n{result['case']} (float32 input {result['input_mb']:.0f} MB)")
    print(
        f"  {'':<10} {'wall s, median (range)':<24} {'x floor':>7} {'CPU s':>6} "
        f"{'x floor':>7} {'peak RSS MB':>11} {'x input':>7} {'above import':>12}"
    )
    floor_cpu = statistics.median(result["floor_cpu_s"])
    print(
        f"  {'I/O floor':<10} {_range(result['floor_s']):<24} {1.0:>7.2f} {floor_cpu:>6.2f} "
        f"{1.0:>7.2f} {result['floor_peak_mb']:>11.0f}"
    )
    for label, name in (("before", "before"), ("run", "y90dose")):
        if f"{label}_s" not in result:
            continue
        cpu = statistics.median(result[f"{label}_cpu_s"])
        print(
            f"  {name:<10} {_range(result[f'{label}_s']):<24} "
            f"{result[f'{label}_time_ratio']:>7.2f} {cpu:>6.2f} {cpu / floor_cpu:>7.2f} "
            f"{result[f'{label}_peak_mb']:>11.0f} {result[f'{label}_peak_x_input']:>7.1f} "
            f"{result[f'{label}_above_import_x_input']:>12.1f}"
        )
    print(
        f"  targets: wall time <= {TARGET_TIME_RATIO:g}x the floor's; peak memory <= "
        f"{TARGET_MEMORY_X_INPUT:g}x the float32 input ('above import': peak RSS minus that "
        f"of a process importing the pipeline, {result['import_peak_mb']:.0f} MB)"
    )


def main() -> None:
    """Measure each case and print the figures (``--json``: as JSON too)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="synthetic grid N (N^3)")
    parser.add_argument("--case", nargs="+", choices=("lu177", "synthetic"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="also run the y90dose package in DIR (e.g. `git archive main y90dose | tar -x "
        "-C DIR`), interleaved: the figures before a change",
    )
    args = parser.parse_args()
    wanted = set(args.case or ("lu177", "synthetic"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    print(f"machine: {os.cpu_count()} CPU(s); {args.rounds} round(s), medians (min-max)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-voxel-floor-") as tmp:
        folder = Path(tmp)
        _kernel_size(1.9531), _kernel_size(4.8)  # kernels generated (disk cache) before timing
        baseline = _child(RUN, ["import"])
        cases: list[Case] = []
        if "lu177" in wanted:
            lu177 = lu177_case(folder / "lu177-out")
            if lu177 is None:
                print(f"\nLu-177 study skipped: {LU177} is absent")
            else:
                cases.append(lu177)
        if "synthetic" in wanted:
            (folder / "synthetic").mkdir()
            cases.append(synthetic_case(folder / "synthetic", args.size))
        for case in cases:
            result = measure(case, args.rounds, baseline, args.before)
            results.append(result)
            _print(result)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
