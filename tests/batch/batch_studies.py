"""Small synthetic studies and manifests for the batch tests (a uniquely named helper)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from y90dose.imaging.synthetic import make_sphere_study

COLUMNS = ("id", "spect", "rois", "ct", "activity_gbq", "product", "method", "lsf")


def make_studies(folder: Path, count: int) -> list[str]:
    """``count`` sphere studies (CT, SPECT, RTSTRUCT) under ``folder/s<i>``; their names."""
    names = []
    for i in range(count):
        name = f"s{i}"
        make_sphere_study(folder / name, write_nm=False, uid_seed=f"y90dose-batch-test-{i}")
        names.append(name)
    return names


def study_row(study_id: str, name: str, **options: Any) -> dict[str, Any]:
    """A manifest row: the study's SPECT and RTSTRUCT, LDM by default (fast), options."""
    row: dict[str, Any] = {
        "id": study_id,
        "spect": f"{name}/spect",
        "rois": f"{name}/rtstruct.dcm",
        "activity_gbq": 2.0,
        "product": "glass",
        "method": "ldm",
        "lsf": 0.05,
    }
    row.update(options)
    return row


def write_manifest(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(COLUMNS)
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
