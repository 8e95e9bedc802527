"""Planned vs delivered comparison of two voxel runs.

A run compared with itself differs by 0; a run with twice the activity (counts image,
LDM, same VOIs) delivers exactly +100 % in every VOI's mean dose and D70, since dose is
linear in activity. Different frames of reference need a rigid transform; an identity
transform gives 0 again; a scaling transform is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from voxel_calls import voxel_run

from y90dose.errors import GeometryError, InputError
from y90dose.pipeline import compare_runs

SPACING_MM = 4.8
SHAPE = 32


def _write(array: np.ndarray, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SPACING_MM,) * 3)
    image.SetOrigin((-70.0, -70.0, -70.0))
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compare")
    k, j, i = np.meshgrid(*(np.arange(SHAPE),) * 3, indexing="ij")
    liver = (i - 16) ** 2 + (j - 16) ** 2 + (k - 16) ** 2 <= 10**2
    tumour = (i - 19) ** 2 + (j - 16) ** 2 + (k - 16) ** 2 <= 3**2
    labels = np.where(liver, 1, 0).astype(np.uint8)
    labels[tumour] = 2
    rng = np.random.default_rng(7)
    counts = np.where(liver, rng.uniform(5, 15, liver.shape), 0.0).astype(np.float32)
    counts[tumour] *= 4.0
    spect = _write(counts, folder / "spect.nii.gz")
    rois = _write(labels, folder / "labels.nii.gz")
    (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor1"}))
    out = {}
    for name, activity in (("planned", 2.0), ("delivered", 4.0)):
        out[name] = folder / name
        voxel_run(spect, rois, out[name], activity_gbq=activity, method="ldm", write_pngs=False)
    return out


def test_itself_is_zero(runs: dict[str, Path]) -> None:
    result = compare_runs(runs["planned"], runs["planned"])
    assert set(result.vois) == {"liver", "tumor1", "normal_liver", "tumors"}
    for voi in result.vois.values():
        assert voi.difference_mean_gy == 0.0
        assert voi.difference_d70_gy == 0.0
        assert voi.delivered_coverage_percent == 100.0


def test_double_activity_is_plus_100_percent(runs: dict[str, Path]) -> None:
    result = compare_runs(runs["planned"], runs["delivered"])
    for voi in result.vois.values():
        assert voi.difference_mean_percent == pytest.approx(100.0, rel=1e-5)
        assert voi.difference_d70_percent == pytest.approx(100.0, rel=1e-5)
        assert voi.delivered_mean_gy == pytest.approx(2 * voi.planned_mean_gy, rel=1e-5)


def _with_frame(source: Path, target: Path, frame: str) -> Path:
    shutil.copytree(source, target)
    summary = json.loads((target / "metrics.json").read_text())
    summary["dose_grid"]["frame_of_reference_uid"] = frame
    (target / "metrics.json").write_text(json.dumps(summary))
    return target


def test_other_frame_needs_a_rigid_transform(runs: dict[str, Path], tmp_path: Path) -> None:
    planned = _with_frame(runs["planned"], tmp_path / "p", "1.2.3.4")
    delivered = _with_frame(runs["planned"], tmp_path / "d", "1.2.3.5")
    with pytest.raises(GeometryError) as other_frame:
        compare_runs(planned, delivered)
    # the library names the argument to give; only the CLI says --transform
    assert other_frame.value.field == "transform"
    assert str(other_frame.value).startswith("transform is needed: the planned run ")
    assert "--" not in str(other_frame.value)
    identity = tmp_path / "identity.tfm"
    sitk.WriteTransform(sitk.Euler3DTransform(), str(identity))
    result = compare_runs(planned, delivered, transform_path=identity)
    for voi in result.vois.values():
        assert voi.difference_mean_gy == pytest.approx(0.0, abs=1e-4 * voi.planned_mean_gy)
    scaling = sitk.AffineTransform(3)
    scaling.SetMatrix((1.1, 0, 0, 0, 1, 0, 0, 0, 1))
    scaled = tmp_path / "scale.tfm"
    sitk.WriteTransform(scaling, str(scaled))
    with pytest.raises(InputError) as refused:
        compare_runs(planned, delivered, transform_path=scaled)
    assert refused.value.field == "transform"


def test_not_a_run_folder(tmp_path: Path, runs: dict[str, Path]) -> None:
    with pytest.raises(InputError) as error:
        compare_runs(tmp_path, runs["planned"])
    assert error.value.field == "planned"


def test_translation_convention(tmp_path: Path) -> None:
    """The transform maps planned points to delivered points (ITK resampling convention).

    The delivered images are the planned ones moved by +2 voxels along x (patient
    coordinates), so the transform p -> p + (2 x 4.8 mm, 0, 0) aligns them exactly: no
    difference; its inverse misaligns them and the tumour's dose changes.
    """
    k, j, i = np.meshgrid(*(np.arange(SHAPE),) * 3, indexing="ij")
    liver = (i - 14) ** 2 + (j - 16) ** 2 + (k - 16) ** 2 <= 9**2
    tumour = (i - 17) ** 2 + (j - 16) ** 2 + (k - 16) ** 2 <= 3**2
    labels = np.where(liver, 1, 0).astype(np.uint8)
    labels[tumour] = 2
    counts = np.where(liver, 10.0, 0.0).astype(np.float32)
    counts[tumour] = 60.0
    folders = {}
    for name, shift in (("planned", 0), ("delivered", 2)):
        folder = tmp_path / name
        folder.mkdir()
        _write(np.roll(counts, shift, axis=2), folder / "spect.nii.gz")
        _write(np.roll(labels, shift, axis=2), folder / "labels.nii.gz")
        (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor1"}))
        voxel_run(
            folder / "spect.nii.gz",
            folder / "labels.nii.gz",
            folder / "out",
            activity_gbq=2.0,
            method="ldm",
            write_pngs=False,
        )
        folders[name] = _with_frame(folder / "out", tmp_path / f"{name}_run", f"1.2.{shift}")
    moved = sitk.TranslationTransform(3, (2 * SPACING_MM, 0.0, 0.0))
    right = tmp_path / "right.tfm"
    sitk.WriteTransform(moved, str(right))
    result = compare_runs(folders["planned"], folders["delivered"], transform_path=right)
    tumour_result = result.vois["tumor1"]
    assert tumour_result.difference_mean_gy == pytest.approx(0.0, abs=1e-4)
    assert tumour_result.delivered_coverage_percent == 100.0
    wrong = tmp_path / "wrong.tfm"
    sitk.WriteTransform(moved.GetInverse(), str(wrong))
    misaligned = compare_runs(folders["planned"], folders["delivered"], transform_path=wrong)
    misaligned_percent = misaligned.vois["tumor1"].difference_mean_percent
    assert misaligned_percent is not None
    assert misaligned_percent < -20.0
