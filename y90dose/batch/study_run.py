"""One study of a batch, run on a worker: skipped when done, else computed and written.

A study's outputs are those of ``y90dose voxel --out DIR/<id>`` (the same
:func:`y90dose.voxel_dose` and ``run.write``), plus ``batch.json``: the study's id and
the *fingerprint* of what it was computed from (the content of every input file, the
options and the y90dose version). A study is done when ``DIR/<id>/batch.json`` holds
the fingerprint of its inputs now; it is then skipped.

Nothing half-written is ever taken as done: the run writes into a fresh folder under
``DIR/.partial/`` and only a finished folder is renamed to ``DIR/<id>`` (a rename within
one file system is atomic). A worker killed mid-run leaves a folder in ``.partial``
that the next batch removes; a study computed twice (its worker was thought lost, and
it was not) ends as one folder.

A study's own failure (an unreadable image, a VOI the options name that is not there,
an image over the voxel limit) is returned as its outcome, never raised: one bad study
does not stop the others, and Dask does not retry what would fail again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import y90dose
from y90dose.batch.manifest import BatchStudy, is_json_text
from y90dose.errors import InputError, Y90DoseError
from y90dose.limits import emission_voxel_limit, voxel_limit

BATCH_JSON = "batch.json"
PARTIAL = ".partial"
"""Folder under the batch's output folder where studies are written before the rename."""
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The image-size limits a worker applies (``--max-voxels``, ``--max-emission-voxels``)."""

    max_voxels: int | None = None
    max_emission_voxels: int | None = None


@dataclass(frozen=True)
class StudyOutcome:
    """What became of one study: ``computed``, ``skipped`` (done before) or ``failed``."""

    id: str
    status: str
    seconds: float = 0.0
    error: str = ""
    worker: str = ""


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def fingerprint(study: BatchStudy) -> str:
    """SHA-256 of the study's inputs: file contents, options and the y90dose version.

    A path's name plays no part beyond its place in a folder (a study moved with its
    manifest keeps its fingerprint); a changed byte, option or version changes it.
    """
    digest = hashlib.sha256()
    header = {
        "y90dose": y90dose.__version__,
        "options": study.options.model_dump(mode="json", exclude={"hu_density_curve"}),
        "roi_names": study.roi_names if study.roi_names and is_json_text(study.roi_names) else None,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    inputs: dict[str, Path | None] = {
        "spect": study.spect,
        "rois": study.rois,
        "ct": study.ct,
        "hu_density_curve": study.options.hu_density_curve,
    }
    if study.roi_names and not is_json_text(study.roi_names):
        inputs["roi_names"] = Path(study.roi_names)
    for role, path in inputs.items():
        digest.update(f"\0{role}\0".encode())
        if path is None:
            continue
        if not Path(path).exists():
            raise InputError(
                role,
                str(path),
                "an existing file or folder (paths in the manifest are relative to its folder)",
            )
        for file in _files(Path(path)):
            name = file.relative_to(path).as_posix() if Path(path).is_dir() else ""
            digest.update(f"{name}\0".encode())
            with file.open("rb") as handle:
                while chunk := handle.read(HASH_CHUNK_BYTES):
                    digest.update(chunk)
    return digest.hexdigest()


def done_fingerprint(folder: Path) -> str | None:
    """The fingerprint recorded in a finished study folder, or ``None``."""
    try:
        record = json.loads((folder / BATCH_JSON).read_text())
    except (OSError, ValueError):
        return None
    value = record.get("fingerprint") if isinstance(record, dict) else None
    return value if isinstance(value, str) else None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def run_study(
    study: BatchStudy, out_dir: str, *, write_pngs: bool = True, limits: Limits | None = None
) -> StudyOutcome:
    """Run one study into ``out_dir/<id>`` unless it is done (see the module doc)."""
    started = time.perf_counter()
    out = Path(out_dir)
    target = out / study.id
    worker = _worker_name()
    try:
        print_ = fingerprint(study)
    except InputError as exc:
        return StudyOutcome(study.id, "failed", error=str(exc), worker=worker)
    except OSError as exc:
        return StudyOutcome(study.id, "failed", error=f"reading the inputs: {exc}", worker=worker)
    if done_fingerprint(target) == print_:
        return StudyOutcome(study.id, "skipped", worker=worker)
    limits = limits or Limits()
    partial = out / PARTIAL / f"{study.id}.{uuid.uuid4().hex}"
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with voxel_limit(limits.max_voxels), emission_voxel_limit(limits.max_emission_voxels):
            run = y90dose.voxel_dose(
                study.spect,
                study.rois,
                options=study.options,
                ct=study.ct,
                roi_names=study.roi_names,
            )
            run.write(partial, write_pngs=write_pngs)
    except MemoryError:
        shutil.rmtree(partial, ignore_errors=True)
        return StudyOutcome(study.id, "failed", error="out of memory", worker=worker)
    except Exception as exc:  # any study's own failure is its outcome, not the batch's
        shutil.rmtree(partial, ignore_errors=True)
        kind = "" if isinstance(exc, Y90DoseError) else f"{type(exc).__name__}: "
        return StudyOutcome(
            study.id,
            "failed",
            seconds=time.perf_counter() - started,
            error=f"{kind}{exc}",
            worker=worker,
        )
    record = {
        "id": study.id,
        "fingerprint": print_,
        "y90dose": y90dose.__version__,
        "manifest_row": study.row,
        "inputs": {
            "spect": str(study.spect),
            "rois": str(study.rois),
            "ct": str(study.ct) if study.ct else None,
            "roi_names": study.roi_names,
        },
        "options": study.options.model_dump(mode="json"),
        "worker": worker,
    }
    (partial / BATCH_JSON).write_text(json.dumps(record, indent=2) + "\n")
    _put_in_place(partial, target, print_)
    return StudyOutcome(study.id, "computed", seconds=time.perf_counter() - started, worker=worker)


def _put_in_place(partial: Path, target: Path, print_: str) -> None:
    """Rename the finished ``partial`` folder to ``target``, replacing an outdated one."""
    if done_fingerprint(target) == print_:  # the same study finished elsewhere meanwhile
        shutil.rmtree(partial, ignore_errors=True)
        return
    old = None
    if target.exists():
        old = partial.with_name(partial.name + ".old")
        os.replace(target, old)
    os.replace(partial, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clear_partial(out_dir: Path) -> int:
    """Remove what interrupted runs left in ``out_dir/.partial``; the number removed."""
    folder = out_dir / PARTIAL
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def metrics_of(folder: Path) -> dict[str, Any]:
    """The ``metrics.json`` of a finished study folder."""
    data: dict[str, Any] = json.loads((folder / "metrics.json").read_text())
    return data
