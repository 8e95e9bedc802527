"""``y90dose batch`` on a local Dask cluster of 2 workers: the same results as ``y90dose
voxel``, one bad study among good ones, and resuming without recomputing what is done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from batch_studies import make_studies, read_csv, study_row, write_manifest

from y90dose.cli.main import main

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")


def _batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["batch", *args, "--workers", "2", "--no-png", "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def _dose(folder: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "dose_gy.nii.gz")))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    make_studies(folder, 3)
    return folder


def test_batch_equals_voxel_and_one_bad_study_stops_nothing(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        study_row("dvk-ct", "s0", method="dvk", ct="s0/ct"),
        study_row("ldm", "s1", activity_gbq=1.5, product="resin"),
        study_row("no-vois", "s2", rois="s2/none.dcm"),
        study_row("bad-lsf", "s2", lsf=2),
        study_row("wrong-voi", "s2", normalize_to="spleen"),
    ]
    manifest = write_manifest(cohort / "m1.csv", rows)
    out = tmp_path / "out"
    code, result = _batch(capsys, "--manifest", str(manifest), "--out", str(out))
    assert code == 1  # some studies failed: the run says so by its exit code
    assert (result["total"], result["computed"], result["skipped"], result["failed"]) == (
        5,
        2,
        0,
        3,
    )
    assert result["workers"] == 2 and result["scheduler"] == "local cluster"

    # the same study by `y90dose voxel`: the same dose, bit for bit, and the same metrics
    voxel_out = tmp_path / "voxel"
    assert (
        main(
            [
                "voxel",
                "--spect",
                str(cohort / "s0/spect"),
                "--rois",
                str(cohort / "s0/rtstruct.dcm"),
                "--ct",
                str(cohort / "s0/ct"),
                "--activity-gbq",
                "2.0",
                "--product",
                "glass",
                "--method",
                "dvk",
                "--lsf",
                "0.05",
                "--no-png",
                "--out",
                str(voxel_out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert np.array_equal(_dose(out / "dvk-ct"), _dose(voxel_out))
    batch_metrics = json.loads((out / "dvk-ct/metrics.json").read_text())["metrics"]
    voxel_metrics = json.loads((voxel_out / "metrics.json").read_text())["metrics"]
    assert batch_metrics == voxel_metrics

    failures = read_csv(out / "failures.csv")
    assert [(f["id"], f["manifest_row"], f["stage"]) for f in failures] == [
        ("no-vois", "4", "run"),
        ("bad-lsf", "5", "manifest"),
        ("wrong-voi", "6", "run"),
    ]
    assert "rois:" in failures[0]["error"] and "none.dcm" in failures[0]["error"]
    assert failures[1]["error"].startswith("lsf: '2' is not allowed")
    assert "spleen" in failures[2]["error"]
    assert not (out / "no-vois").exists() and not (out / "wrong-voi").exists()

    summary = read_csv(out / "summary.csv")
    # one row per study and VOI (the sphere study's liver and tumor1, and the derived
    # normal liver = liver - tumours and the union of the tumours), in manifest order
    vois = ("liver", "tumor1", "normal_liver", "tumors")
    assert sorted((r["id"], r["voi"]) for r in summary) == sorted(
        (i, v) for i in ("dvk-ct", "ldm") for v in vois
    )
    assert [r["id"] for r in summary] == ["dvk-ct"] * 4 + ["ldm"] * 4
    for row in summary:
        study_metrics = json.loads((out / row["id"] / "metrics.json").read_text())["metrics"]
        assert float(row["mean_gy"]) == study_metrics[row["voi"]]["mean_gy"]
        assert float(row["d70_gy"]) == study_metrics[row["voi"]]["d70_gy"]
    assert {r["method"] for r in summary} == {"dvk", "ldm"}
    import pyarrow.parquet as pq

    table = pq.read_table(out / "summary.parquet").to_pylist()
    assert [(r["id"], r["voi"], r["mean_gy"]) for r in table] == [
        (r["id"], r["voi"], float(r["mean_gy"])) for r in summary
    ]


def test_resume_computes_only_what_changed(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [study_row(f"p{i}", f"s{i}") for i in range(3)]
    manifest = write_manifest(cohort / "m2.csv", rows)
    out = tmp_path / "out"
    args = ("--manifest", str(manifest), "--out", str(out))
    code, first = _batch(capsys, *args)
    assert code == 0 and (first["computed"], first["skipped"]) == (3, 0)
    before = {i: (out / f"p{i}" / "batch.json").stat().st_mtime_ns for i in range(3)}

    code, again = _batch(capsys, *args)
    assert code == 0 and (again["computed"], again["skipped"]) == (0, 3)
    assert {i: (out / f"p{i}" / "batch.json").stat().st_mtime_ns for i in range(3)} == before

    # an option changed (p0), and an input file's content changed (p1: the study copied
    # with one RTSTRUCT byte of a free-text field changed): only those two run again
    rows[0]["activity_gbq"] = 2.2
    copy = cohort / "s1-edited"
    import shutil

    shutil.copytree(cohort / "s1", copy)
    rt = copy / "rtstruct.dcm"
    data = rt.read_bytes()
    rt.write_bytes(data.replace(b"y90dose", b"Y90dose", 1))
    rows[1].update(spect="s1-edited/spect", rois="s1-edited/rtstruct.dcm")
    write_manifest(manifest, rows)
    code, changed = _batch(capsys, *args)
    assert code == 0 and (changed["computed"], changed["skipped"]) == (2, 1)
    p0 = json.loads((out / "p0/metrics.json").read_text())["metrics"]["liver"]
    first_p2 = (out / "p2" / "batch.json").stat().st_mtime_ns
    assert first_p2 == before[2]
    # the dose scales with the activity: 2.2 / 2.0 of the first run's (LDM, linear)
    summary = {(r["id"], r["voi"]): r for r in read_csv(out / "summary.csv")}
    assert p0["mean_gy"] == pytest.approx(float(summary[("p0", "liver")]["mean_gy"]))
    assert len(summary) == 12  # 3 studies x 4 VOIs, each once


def test_a_half_written_study_is_never_taken_as_done(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(cohort / "m3.csv", [study_row("p0", "s0"), study_row("p1", "s1")])
    out = tmp_path / "out"
    # what a killed run leaves: a study folder without its batch.json (written last, then
    # renamed: a real run never leaves this, an older tool or a hand copy might), and a
    # partial folder
    (out / "p0").mkdir(parents=True)
    (out / "p0" / "metrics.json").write_text("{}")
    (out / ".partial" / "p1.dead").mkdir(parents=True)
    code, result = _batch(capsys, "--manifest", str(manifest), "--out", str(out))
    assert code == 0 and (result["computed"], result["skipped"]) == (2, 0)
    assert json.loads((out / "p0/metrics.json").read_text())["metrics"]["liver"]["mean_gy"] > 0
    assert list((out / ".partial").iterdir()) == []


def test_scaling_by_activity_is_exact_between_studies(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # LDM is linear in the administered activity: 3 GBq gives 1.5 x the dose of 2 GBq
    manifest = write_manifest(
        cohort / "m4.csv",
        [study_row("a2", "s0", activity_gbq=2.0), study_row("a3", "s0", activity_gbq=3.0)],
    )
    out = tmp_path / "out"
    code, _ = _batch(capsys, "--manifest", str(manifest), "--out", str(out))
    assert code == 0
    rows = {(r["id"], r["voi"]): float(r["mean_gy"]) for r in read_csv(out / "summary.csv")}
    assert rows[("a3", "liver")] == pytest.approx(1.5 * rows[("a2", "liver")], rel=1e-6)
    assert rows[("a3", "tumor1")] == pytest.approx(1.5 * rows[("a2", "tumor1")], rel=1e-6)


def test_bad_invocations_are_refused_with_the_option_named(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(cohort / "m5.csv", [study_row("p0", "s0")])
    (tmp_path / "file").write_text("x")
    code = main(["batch", "--manifest", str(manifest), "--out", str(tmp_path / "file")])
    assert code == 2 and "--out:" in capsys.readouterr().err
    code = main(
        ["batch", "--manifest", str(manifest), "--out", str(tmp_path / "o"), "--workers", "0"]
    )
    assert code == 2 and "--workers: 0 is not allowed" in capsys.readouterr().err
    code = main(["batch", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path)])
    assert code == 2 and "--manifest:" in capsys.readouterr().err
