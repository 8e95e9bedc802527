"""``y90dose batch``: voxel dosimetry of every study of a manifest, on Dask, resumable.

Each study runs the same :func:`y90dose.voxel_dose` and ``run.write`` as ``y90dose
voxel`` into ``--out/<id>/``; ``summary.csv`` has one row per study and VOI and
``failures.csv`` the studies that failed and why (:mod:`y90dose.batch`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from y90dose.cli.image_limits import add_max_voxels_option
from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import TerminalProgress, quiet_library_warnings

EXIT_SOME_FAILED = 1


def register(subparsers: Any) -> None:
    text = COMMANDS["batch"]
    parser = subparsers.add_parser("batch", help=text, description=text)
    parser.add_argument(
        "--manifest",
        required=True,
        metavar="FILE.csv",
        help="one row per study: id, spect, rois, optional ct and roi_names, and any voxel "
        "option as a column (activity_gbq, lsf, method...; lists separated by ';'); "
        "paths relative to the manifest's folder",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output folder: DIR/<id>/ per study, DIR/summary.csv, DIR/failures.csv; a "
        "batch run again into it computes only what is not done for the same inputs",
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="a running Dask scheduler (default: a local cluster on this machine)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local cluster (default: one per core)",
    )
    parser.add_argument("--no-png", action="store_true", help="skip the PNG figures")
    add_max_voxels_option(parser, emission=True)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """Read the manifest, run the batch with a progress line, report the counts."""
    try:
        import distributed  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the installation
        raise SystemExit(
            "y90dose batch: Dask is not installed; install from the checkout with: "
            "pip install -e '.[batch]'"
        ) from None
    from y90dose.batch.engine import BatchProgress, has_dashboard, run_batch
    from y90dose.batch.manifest import read_manifest
    from y90dose.batch.study_run import Limits

    manifest = read_manifest(args.manifest)
    bar = TerminalProgress()

    def progress(state: BatchProgress) -> None:
        eta = state.eta_s()
        eta_text = "" if eta is None else f", ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        finished = state.done + state.failed
        bar(
            finished / state.total if state.total else 1.0,
            f"{state.done} done ({state.skipped} before), {state.failed} failed, "
            f"{state.remaining} remaining{eta_text}",
        )

    def announce(client: Any) -> None:
        if bar.enabled and has_dashboard(client):
            sys.stderr.write(f"Dask dashboard: {client.dashboard_link}\n")

    try:
        with quiet_library_warnings():
            result = run_batch(
                manifest,
                args.out,
                scheduler=args.scheduler,
                workers=args.workers,
                write_pngs=not args.no_png,
                limits=Limits(args.max_voxels, args.max_emission_voxels),
                progress=progress,
                on_client=announce,
            )
    finally:
        bar.close()
    lines = [
        f"{result.total} studies: {result.computed} computed, {result.skipped} done before, "
        f"{result.failed} failed ({result.workers} workers, {result.scheduler}, "
        f"{result.elapsed_s:.1f} s)",
        *[f"failed: {f['id']}: {f['error']}" for f in result.failures],
        f"output: {result.out_dir}",
        *[f"  {name}" for name in result.files.values()],
    ]
    return CommandOutput(
        data=result.to_dict(),
        human="\n".join(lines),
        exit_code=EXIT_SOME_FAILED if result.failed else 0,
    )
