"""The batch's tables: ``summary.csv`` (and ``summary.parquet``) and ``failures.csv``.

The summary is built from the finished study folders themselves (their ``metrics.json``),
in manifest order, once per study and VOI: a resumed batch lists the studies of earlier
runs and this one alike, and a study computed twice (a worker thought lost) is one folder
and so one set of rows. Each table is written to a temporary file and renamed.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from y90dose.batch.study_run import metrics_of

SUMMARY_CSV = "summary.csv"
SUMMARY_PARQUET = "summary.parquet"
FAILURES_CSV = "failures.csv"
LEADING_COLUMNS = (
    "id",
    "voi",
    "method",
    "energy_j_per_gbq",
    "activity_in_image_gbq",
    "volume_ml",
    "mass_g",
    "mean_gy",
    "mean_absorbed_gy",
    "median_gy",
    "min_gy",
    "max_gy",
)
FAILURE_COLUMNS = ("id", "manifest_row", "stage", "error")
LEFT_OUT = frozenset({"voi_name", "conventions"})
"""Metrics keys not made columns: the VOI's name (the ``voi`` column) and the sentence
stating the D/V conventions (the same in every row; in each study's metrics.json)."""


def summary_rows(out_dir: Path, ids: Iterable[str]) -> list[dict[str, Any]]:
    """One row per finished study (``out_dir/<id>/metrics.json``) and VOI, in id order."""
    rows: list[dict[str, Any]] = []
    for study_id in ids:
        folder = out_dir / study_id
        if not (folder / "metrics.json").is_file():
            continue
        run = metrics_of(folder)
        study = {
            "id": study_id,
            "method": run.get("method"),
            "energy_j_per_gbq": run.get("energy_j_per_gbq"),
            "activity_in_image_gbq": run.get("energy_balance", {}).get("activity_in_image_gbq"),
        }
        for voi, metrics in run.get("metrics", {}).items():
            row = dict(study, voi=voi)
            for key, value in metrics.items():
                if key not in LEFT_OUT and (value is None or isinstance(value, str | int | float)):
                    row[key] = value
            rows.append(row)
    return rows


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The leading columns, then every other key once, in first-seen order."""
    seen = list(LEADING_COLUMNS)
    for row in rows:
        seen += [key for key in row if key not in seen]
    return seen


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    os.replace(partial, path)


def write_summary(out_dir: Path, ids: Iterable[str]) -> dict[str, str]:
    """Write ``summary.csv`` (and ``summary.parquet`` with pyarrow); the files written."""
    rows = summary_rows(out_dir, ids)
    columns = columns_of(rows)
    _write_csv(out_dir / SUMMARY_CSV, columns, rows)
    files = {"summary_csv": SUMMARY_CSV}
    if importlib.util.find_spec("pyarrow") is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        partial = out_dir / f".{SUMMARY_PARQUET}.partial"
        pq.write_table(table, partial)
        os.replace(partial, out_dir / SUMMARY_PARQUET)
        files["summary_parquet"] = SUMMARY_PARQUET
    return files


def write_failures(out_dir: Path, failures: Iterable[dict[str, Any]]) -> str:
    """Write ``failures.csv`` (a header only when nothing failed)."""
    _write_csv(out_dir / FAILURES_CSV, FAILURE_COLUMNS, failures)
    return FAILURES_CSV
