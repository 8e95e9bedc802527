"""``y90dose batch`` on Dask: scaling with 1 and 2 workers, and the engine's overhead per
study against calling ``voxel_dose`` in a loop in one process (issue 14).

Writes N synthetic 128^3 studies (the sphere study of ``y90dose.imaging.synthetic``: a
128^3 SPECT of 4 mm voxels, liver and tumour in an RTSTRUCT; no CT), then, in one run
and in this order:

- ``loop``: ``y90dose.voxel_dose(...).write(out/<id>)`` for each study in this process
  (the baseline: the same work, no engine);
- ``batch-1``: ``run_batch`` on a local cluster of 1 worker (cluster start included);
- ``batch-2``: the same with 2 workers;
- ``cluster-start-N``: starting and closing an empty local cluster of N workers (the
  fixed cost of a batch, reported apart).

Every run is DVK, PNGs off (the same outputs on both sides). The three are run twice,
interleaved (loop, batch-1, batch-2, batch-2, batch-1, loop), so that the neighbours' load
on a shared machine falls on every side alike; wall and CPU seconds (this process and the
cluster's worker processes) are reported. The overhead per study is ``(batch-1 - loop) /
N`` as a share of the loop's time per study (target <= 10 %), with and without the
cluster's start, and in steady state: from the first study finished to the last, per
study (no cluster start, no first-task imports in the workers).
Scaling is ``batch-1 / batch-2`` (at most 2 on a 2-core machine; the FFT of one study
already uses both cores, so less is expected).

Run: ``.venv/bin/python benchmarks/bench_batch.py [--studies 24] [--size 128] [--json]``
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import y90dose
from y90dose.batch.engine import BatchProgress, dask_client, run_batch
from y90dose.batch.manifest import Manifest, read_manifest
from y90dose.imaging.synthetic import make_sphere_study


def _studies(folder: Path, count: int, size: int) -> Path:
    """``count`` manifest rows over 2 written studies (the inputs' content does not change
    the cost; distinct ids and outputs do)."""
    for i in range(2):
        make_sphere_study(
            folder / f"s{i}",
            write_nm=False,
            spect_shape_zyx=(size, size, size),
            spect_spacing_mm=(4.0, 4.0, 4.0),
            ct_shape_zyx=(8, 8, 8),
            uid_seed=f"bench-batch-{i}",
        )
    lines = ["id,spect,rois,activity_gbq,product,method"]
    lines += [f"p{i:03d},s{i % 2}/spect,s{i % 2}/rtstruct.dcm,2.0,glass,dvk" for i in range(count)]
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _loop(manifest: Manifest, out: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds of voxel_dose + write for every study, in this process, and
    the wall seconds per study."""
    wall, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    for study in manifest.studies:
        run = y90dose.voxel_dose(study.spect, study.rois, options=study.options)
        run.write(out / study.id, write_pngs=False)
    seconds = time.perf_counter() - wall
    return seconds, _cpu_s(resource.RUSAGE_SELF) - cpu, seconds / len(manifest.studies)


def _batch(manifest: Manifest, out: Path, workers: int) -> tuple[float, float, float]:
    """Wall and CPU seconds (this process and the cluster's, reaped at its close), and the
    steady-state wall seconds per study: from the first study finished to the last, over
    the studies in between (no cluster start, no first-task imports)."""
    finished: list[float] = []

    def progress(state: BatchProgress) -> None:
        if state.computed > len(finished):
            finished.append(time.perf_counter())

    wall = time.perf_counter()
    cpu = _cpu_s(resource.RUSAGE_SELF) + _cpu_s(resource.RUSAGE_CHILDREN)
    result = run_batch(manifest, out, workers=workers, write_pngs=False, progress=progress)
    assert result.computed == len(manifest.studies), result.failures
    steady = (finished[-1] - finished[workers - 1]) / (len(finished) - workers)
    return (
        time.perf_counter() - wall,
        _cpu_s(resource.RUSAGE_SELF) + _cpu_s(resource.RUSAGE_CHILDREN) - cpu,
        steady,
    )


def _start(workers: int) -> float:
    begun = time.perf_counter()
    with dask_client(None, workers) as client:
        client.wait_for_workers(workers)
    return time.perf_counter() - begun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float, float]]] = {"loop": [], "batch-1": [], "batch-2": []}
    starts: dict[str, list[float]] = {"cluster-start-1": [], "cluster-start-2": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = read_manifest(_studies(root, args.studies, args.size))
        # interleaved (A B C C B A) so that the neighbours' load falls on every side alike
        for n, name in enumerate(("loop", "batch-1", "batch-2", "batch-2", "batch-1", "loop")):
            out = root / f"{name}-{n}"
            if name == "loop":
                runs[name].append(_loop(manifest, out))
            else:
                workers = int(name[-1])
                starts[f"cluster-start-{workers}"].append(_start(workers))
                runs[name].append(_batch(manifest, out, workers))
            shutil.rmtree(out)
    wall = {k: sum(r[0] for r in v) / len(v) for k, v in runs.items()}
    cpu = {k: sum(r[1] for r in v) / len(v) for k, v in runs.items()}
    steady = {k: sum(r[2] for r in v) / len(v) for k, v in runs.items()}
    start = {k: sum(v) / len(v) for k, v in starts.items()}
    n = args.studies
    per_study = wall["loop"] / n
    overhead = (wall["batch-1"] - wall["loop"]) / n
    overhead_running = (wall["batch-1"] - start["cluster-start-1"] - wall["loop"]) / n
    cpu_overhead = (cpu["batch-1"] - cpu["loop"]) / n
    steady_overhead = steady["batch-1"] / steady["loop"] - 1
    figures = {
        "studies": n,
        "size": args.size,
        "wall_s": {k: round(v, 2) for k, v in wall.items()},
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "cluster_start_s": {k: round(v, 2) for k, v in start.items()},
        "loop_s_per_study": round(per_study, 3),
        "overhead_percent": round(100 * overhead / per_study, 1),
        "overhead_without_cluster_start_percent": round(100 * overhead_running / per_study, 1),
        "steady_s_per_study": {k: round(v, 3) for k, v in steady.items()},
        "steady_overhead_percent": round(100 * steady_overhead, 1),
        "cpu_overhead_percent": round(100 * cpu_overhead / (cpu["loop"] / n), 1),
        "scaling_2_vs_1_workers": round(wall["batch-1"] / wall["batch-2"], 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{n} studies of {args.size}^3, DVK, no PNGs (mean of 2 interleaved runs each)")
    for name in runs:
        print(
            f"  {name:<8} {wall[name]:7.1f} s wall ({wall[name] / n:.2f} s per study), "
            f"{cpu[name]:7.1f} s CPU"
        )
    for name, seconds in start.items():
        print(f"  {name}: {seconds:.1f} s (once per batch)")
    print(
        f"overhead of the engine per study: {overhead:+.3f} s wall "
        f"({figures['overhead_percent']:+.1f} % of the loop's {per_study:.2f} s; "
        f"{figures['overhead_without_cluster_start_percent']:+.1f} % without the cluster's "
        f"start), {figures['cpu_overhead_percent']:+.1f} % CPU; target <= 10 %"
    )
    print(
        "steady state (first study finished to last), per study: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in steady.items())
        + f"; overhead of batch-1 on the loop {100 * steady_overhead:+.1f} % (target <= 10 %)"
    )
    print(f"scaling, 2 workers vs 1: {figures['scaling_2_vs_1_workers']:.2f}x")


if __name__ == "__main__":
    main()
