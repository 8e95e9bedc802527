"""The synthetic sphere study: deterministic files and images that match its analytic truth
(sphere volumes 4/3 pi r^3, activity = concentration x volume)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y90dose.imaging import read_image, read_rtstruct, total_activity_bq, with_normal_liver
from y90dose.imaging.synthetic import make_sphere_study


def test_two_calls_write_identical_files(tmp_path: Path) -> None:
    first = make_sphere_study(tmp_path / "a", write_nm=False)
    second = make_sphere_study(tmp_path / "b", write_nm=False)
    for relative in ("rtstruct.dcm", "ct/CT_0007.dcm", "spect/PT_0011.dcm"):
        assert (first.folder / relative).read_bytes() == (second.folder / relative).read_bytes()


def test_images_match_the_analytic_truth(tmp_path: Path) -> None:
    study = make_sphere_study(tmp_path)
    spect = read_image(study.spect_folder)
    # voxel-centre sampling of spheres on a 4 mm grid: total activity within 3 %
    assert total_activity_bq(spect) == pytest.approx(study.total_activity_bq, rel=0.03)
    ct = read_image(study.ct_folder)
    vois = with_normal_liver(read_rtstruct(study.rtstruct_path, ct))
    assert vois.volume_ml("normal_liver") == pytest.approx(study.normal_liver_volume_ml, rel=0.03)
    assert np.all(ct.array[vois["tumor1"]] == 40.0)
    # the CT voxels inside the contoured liver but outside the tumour are liver (60 HU)
    assert np.mean(ct.array[vois["normal_liver"]] == 60.0) > 0.99
    on_spect = read_rtstruct(study.rtstruct_path, spect)
    tumour_mean = spect.array[on_spect["tumor1"]].mean()
    assert tumour_mean == pytest.approx(study.tumor_bq_per_ml, rel=0.05)
