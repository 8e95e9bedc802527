"""The batch manifest: read and checked before anything runs (no Dask needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from y90dose.batch.manifest import read_manifest
from y90dose.errors import InputError
from y90dose.pipeline.options import VoxelOptions


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(text)
    return path


def test_rows_become_studies_with_paths_from_the_manifest_folder(tmp_path: Path) -> None:
    sub = tmp_path / "cohort"
    sub.mkdir()
    manifest = read_manifest(
        _write(
            sub,
            "id,spect,rois,ct,activity_gbq,method,tumor_rois,v_thresholds_gy,predictive\n"
            "p1,a/spect,a/rt.dcm,a/ct,2.5,ldm,tumor1; tumor2,100;200,true\n"
            "p2,b/spect,b/labels.nii.gz,,,,,,\n",
        )
    )
    first, second = manifest.studies
    assert first.id == "p1" and first.row == 2
    assert first.spect == sub.resolve() / "a/spect" and first.ct == sub.resolve() / "a/ct"
    assert first.options.activity_gbq == 2.5 and first.options.method.value == "ldm"
    assert first.options.tumor_rois == ["tumor1", "tumor2"]
    assert first.options.v_thresholds_gy == [100.0, 200.0]
    assert first.options.predictive is True
    # empty cells are "not given": every default, as `y90dose voxel` without the option
    assert second.ct is None and second.options == VoxelOptions()
    assert manifest.ids == ("p1", "p2") and manifest.refused == ()


def test_a_row_with_a_refused_option_fails_alone(tmp_path: Path) -> None:
    manifest = read_manifest(
        _write(tmp_path, "id,spect,rois,lsf\nok,s,r,0.1\nbad,s,r,10\nalso,s,r,\n")
    )
    assert [s.id for s in manifest.studies] == ["ok", "also"]
    (refused,) = manifest.refused
    assert refused.id == "bad" and refused.row == 3
    assert refused.error.startswith("lsf: '10' is not allowed")
    assert manifest.ids == ("ok", "bad", "also")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("id,spect\np,s\n", "no column rois"),
        ("id,spect,rois,activity\np,s,r,2\n", "activity"),  # not an option: refused, not ignored
        ("id,spect,rois,lsf,lsf\np,s,r,0,0\n", "column lsf twice"),
        ("id,spect,rois\np,s,r\np,s2,r2\n", "'p' is also on line 2"),
        ("id,spect,rois\n../up,s,r\n", "id '../up'"),
        ("id,spect,rois\na/b,s,r\n", "id 'a/b'"),
        ("id,spect,rois\n.hidden,s,r\n", "id '.hidden'"),
        ("id,spect,rois\n", "no study rows"),
        ("", "a header row"),
        ("id,spect,rois\np,s,r,extra\n", "line 2 has 4 cells"),
    ],
)
def test_a_manifest_refused_as_a_whole_says_why(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(InputError) as error:
        read_manifest(_write(tmp_path, text))
    assert error.value.field == "manifest"
    assert says in str(error.value)


def test_a_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="an existing CSV file"):
        read_manifest(tmp_path / "none.csv")
