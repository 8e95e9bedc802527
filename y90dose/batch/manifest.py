"""The batch manifest: one CSV row per study, read and checked before anything runs.

Columns: ``id`` (the study's output folder name), ``spect`` and ``rois`` (required),
``ct`` and ``roi_names`` (optional), and any :class:`~y90dose.pipeline.options.VoxelOptions`
field (``activity_gbq``, ``lsf``, ``method``...). An empty cell means "not given" (the
option's default). List fields (``tumor_rois``, ``v_thresholds_gy``) take their items
separated by ``;``. Paths are relative to the manifest's folder (an absolute path is
taken as it is).

A manifest that cannot be read as a whole (no such file, a missing required column, an
unknown column, two rows with one id, an id that is not a safe folder name) is refused
before any study runs. A row whose options the model refuses is that study's failure,
listed in ``failures.csv``, and the other studies run.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from y90dose.errors import InputError
from y90dose.pipeline.options import VoxelOptions
from y90dose.validation import parse

REQUIRED_COLUMNS = ("id", "spect", "rois")
INPUT_COLUMNS = (*REQUIRED_COLUMNS, "ct", "roi_names")
PATH_COLUMNS = ("spect", "rois", "ct")
PATH_OPTIONS = ("hu_density_curve",)
"""VoxelOptions fields that are file names (relative to the manifest's folder)."""
LIST_SEPARATOR = ";"
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A study id is its output folder's name: letters, digits, ``.``, ``_``, ``-``."""
MAX_ROWS = 100_000


@dataclass(frozen=True)
class BatchStudy:
    """One study of a batch: its inputs (absolute paths) and its options."""

    id: str
    spect: Path
    rois: Path
    ct: Path | None
    roi_names: str | None
    options: VoxelOptions
    row: int
    """The manifest line it came from (1 is the header)."""


@dataclass(frozen=True)
class RowFailure:
    """A manifest row refused on its own (its options or paths); the others run."""

    id: str
    row: int
    error: str


@dataclass(frozen=True)
class Manifest:
    """A read manifest: the studies to run and the rows refused on their own."""

    path: Path
    studies: tuple[BatchStudy, ...]
    refused: tuple[RowFailure, ...] = field(default_factory=tuple)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id, in manifest order (runnable and refused)."""
        rows = sorted([(s.row, s.id) for s in self.studies] + [(f.row, f.id) for f in self.refused])
        return tuple(i for _, i in rows)


def _list_fields() -> set[str]:
    return {
        name for name, info in VoxelOptions.model_fields.items() if "list[" in str(info.annotation)
    }


def read_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest (see the module doc).

    Raises
    ------
    InputError
        (``manifest``) a manifest refused as a whole, saying what was wrong and what is
        allowed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("manifest", str(path), "an existing CSV file") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise InputError("manifest", str(path), f"a readable UTF-8 CSV file ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError("manifest", str(path), "a CSV file with a header row")
    header = [cell.strip() for cell in rows[0]]
    allowed = set(INPUT_COLUMNS) | set(VoxelOptions.model_fields)
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise InputError(
            "manifest",
            ", ".join(unknown),
            f"columns {', '.join(INPUT_COLUMNS)} and the voxel options "
            f"{', '.join(VoxelOptions.model_fields)}",
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError("manifest", f"no column {', '.join(missing)}", "columns id, spect, rois")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputError("manifest", f"column {', '.join(repeated)} twice", "each column once")
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    if not body:
        raise InputError("manifest", "no study rows", "one row per study under the header")
    if len(body) > MAX_ROWS:
        raise InputError("manifest", f"{len(body)} rows", f"at most {MAX_ROWS}")

    folder = path.resolve().parent
    seen: dict[str, int] = {}
    studies: list[BatchStudy] = []
    refused: list[RowFailure] = []
    for number, cells in body:
        if len(cells) > len(header):
            raise InputError(
                "manifest", f"line {number} has {len(cells)} cells", f"at most {len(header)}"
            )
        values = {c: v.strip() for c, v in zip(header, cells, strict=False)}
        study_id = values.get("id", "")
        if not ID_PATTERN.fullmatch(study_id) or study_id in {".", ".."}:
            raise InputError(
                "manifest",
                f"line {number}: id {study_id!r}",
                "an id of 1-128 letters, digits, '.', '_' or '-' starting with a letter or "
                "digit (it names the study's output folder)",
            )
        if study_id in seen:
            raise InputError(
                "manifest",
                f"line {number}: id {study_id!r} is also on line {seen[study_id]}",
                "each id once",
            )
        seen[study_id] = number
        try:
            studies.append(_study(study_id, number, values, folder))
        except InputError as exc:
            refused.append(RowFailure(study_id, number, str(exc)))
    return Manifest(path=path, studies=tuple(studies), refused=tuple(refused))


def is_json_text(roi_names: str) -> bool:
    """``roi_names`` given as JSON text (``{"1": "liver"}``), not as a file's name."""
    return roi_names.startswith(("{", "["))


def _roi_names(cell: str, folder: Path) -> str | None:
    """JSON text as it is; anything else is a JSON file's name, relative to the folder."""
    if not cell:
        return None
    return cell if is_json_text(cell) else str(folder / cell)


def _study(study_id: str, row: int, values: dict[str, str], folder: Path) -> BatchStudy:
    for column in ("spect", "rois"):
        if not values.get(column):
            raise InputError(column, "", "a path (relative to the manifest's folder)")
    paths = {c: folder / values[c] if values.get(c) else None for c in PATH_COLUMNS}
    lists = _list_fields()
    data: dict[str, Any] = {}
    for name in VoxelOptions.model_fields:
        cell = values.get(name, "")
        if not cell:
            continue
        if name in lists:
            data[name] = [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]
        elif name in PATH_OPTIONS:
            data[name] = str(folder / cell)
        else:
            data[name] = cell
    options = parse(VoxelOptions, data)
    spect, rois = paths["spect"], paths["rois"]
    assert spect is not None and rois is not None
    return BatchStudy(
        id=study_id,
        spect=spect,
        rois=rois,
        ct=paths["ct"],
        roi_names=_roi_names(values.get("roi_names", ""), folder),
        options=options,
        row=row,
    )
