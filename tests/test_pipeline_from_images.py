"""Voxel-based partition planning on a two-compartment + tumour + lung phantom.

The MAA SPECT holds uniform counts per voxel: normal liver c_N, tumour c_T = 4 c_N,
lung c_L. On one grid with VOIs that match the activity exactly, the measured TN must
be 4, the LSF (lung counts) / (lung + whole-liver counts), and the plan the partition
model's (physics.md 4.3) A = D_N (TN M_T + M_N) / (C (1 - LSF) (1 - R)), computed here by
hand from the phantom's voxel counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.constants import ENERGY_GLASS_J_PER_GBQ, ENERGY_RESIN_J_PER_GBQ
from y90dose.errors import InputError
from y90dose.pipeline import plan_from_images

SPACING_MM = 4.0
SHAPE = 48
C_NORMAL = 20.0
TN = 4.0
C_LUNG = 3.0


def _write(array: np.ndarray, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SPACING_MM,) * 3)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("partition")
    k, j, i = np.meshgrid(*(np.arange(SHAPE),) * 3, indexing="ij")
    liver = (i - 24) ** 2 + (j - 24) ** 2 + (k - 30) ** 2 <= 14**2
    tumour = (i - 28) ** 2 + (j - 24) ** 2 + (k - 30) ** 2 <= 5**2
    lung = (k < 10) & (k >= 2) & (np.abs(i - 24) < 18) & (np.abs(j - 24) < 18)
    labels = np.zeros(liver.shape, np.uint8)
    labels[liver] = 1
    labels[tumour] = 2  # label maps keep tumours apart from the liver
    labels[lung] = 3
    counts = np.zeros(liver.shape, np.float32)
    counts[liver] = C_NORMAL
    counts[tumour] = C_NORMAL * TN
    counts[lung] = C_LUNG
    _write(counts, folder / "maa.nii.gz")
    _write(labels, folder / "labels.nii.gz")
    (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor1", "3": "lungs"}))
    voxel_ml = SPACING_MM**3 / 1000.0
    return {
        "spect": folder / "maa.nii.gz",
        "rois": folder / "labels.nii.gz",
        "tumour_ml": float(tumour.sum()) * voxel_ml,
        "normal_ml": float((liver & ~tumour).sum()) * voxel_ml,
        "lung_counts": float(lung.sum()) * C_LUNG,
        "liver_counts": float((liver & ~tumour).sum()) * C_NORMAL
        + float(tumour.sum()) * C_NORMAL * TN,
    }


def test_tn_lsf_and_plan_match_the_partition_model(phantom: dict[str, object]) -> None:
    result = plan_from_images(
        phantom["spect"],  # type: ignore[arg-type]
        phantom["rois"],  # type: ignore[arg-type]
        liver_roi="liver",
        tumor_rois=["tumor1"],
        lung_roi="lungs",
        normal_dose_gy=40.0,
        plan_options={"residual": 0.05},
    )
    measured = result.measured
    assert measured.tn_ratios["tumor1"] == pytest.approx(TN, rel=1e-9)
    lsf = phantom["lung_counts"] / (phantom["lung_counts"] + phantom["liver_counts"])  # type: ignore[operator]
    assert measured.lsf_measured == pytest.approx(lsf, rel=1e-9)
    assert measured.lsf_used == pytest.approx(lsf, rel=1e-9)
    assert measured.vois["tumor1"].volume_ml == pytest.approx(phantom["tumour_ml"])
    assert measured.vois["normal_liver"].volume_ml == pytest.approx(phantom["normal_ml"])

    density_kg_per_ml = 1.03 / 1000.0
    m_t = phantom["tumour_ml"] * density_kg_per_ml  # type: ignore[operator]
    m_n = phantom["normal_ml"] * density_kg_per_ml  # type: ignore[operator]
    c = ENERGY_GLASS_J_PER_GBQ.value
    activity = 40.0 * (TN * m_t + m_n) / (c * (1 - lsf) * (1 - 0.05))
    plan = result.plan
    assert plan.model == "partition"
    assert plan.activity_gbq == pytest.approx(activity, rel=1e-9)
    assert plan.dose_gy("normal") == pytest.approx(40.0, rel=1e-9)
    assert plan.dose_gy("tumor") == pytest.approx(160.0, rel=1e-9)
    assert any("field of view" in w for w in result.warnings)
    # typed, and its JSON is the planning core's plan JSON, as the service returns it
    data = result.to_dict()
    assert data["plan"] == plan.json_dict()
    assert data["plan_input"] == result.plan_input.model_dump(mode="json")
    assert data["measured"]["vois"]["tumor1"]["volume_ml"] == measured.vois["tumor1"].volume_ml


def test_given_lsf_overrides_and_tumour_target(phantom: dict[str, object]) -> None:
    result = plan_from_images(
        phantom["spect"],  # type: ignore[arg-type]
        phantom["rois"],  # type: ignore[arg-type]
        liver_roi="liver",
        tumor_rois=["tumor1"],
        lung_roi="lungs",
        tumor_dose_gy=200.0,
        lsf=0.10,
        plan_options={"product": "resin"},
    )
    assert result.measured.lsf_used == 0.10
    assert result.measured.lsf_measured is not None
    m_t = phantom["tumour_ml"] * 1.03 / 1000.0  # type: ignore[operator]
    m_n = phantom["normal_ml"] * 1.03 / 1000.0  # type: ignore[operator]
    activity = (200.0 / TN) * (TN * m_t + m_n) / (ENERGY_RESIN_J_PER_GBQ.value * 0.9)
    assert result.plan.activity_gbq == pytest.approx(activity, rel=1e-9)
    assert result.plan.dose_gy("normal") == pytest.approx(50.0, rel=1e-9)


def test_refusals(phantom: dict[str, object]) -> None:
    common = {"liver_roi": "liver", "normal_dose_gy": 40.0}
    with pytest.raises(InputError) as no_lsf:
        plan_from_images(phantom["spect"], phantom["rois"], tumor_rois=["tumor1"], **common)  # type: ignore[arg-type]
    assert no_lsf.value.field == "lsf"
    with pytest.raises(InputError) as unknown:
        plan_from_images(
            phantom["spect"],  # type: ignore[arg-type]
            phantom["rois"],  # type: ignore[arg-type]
            tumor_rois=["tumor9"],
            lsf=0.05,
            **common,  # type: ignore[arg-type]
        )
    assert unknown.value.field == "tumor_rois"  # the argument's name, not the option's
    with pytest.raises(InputError) as both:
        plan_from_images(
            phantom["spect"],  # type: ignore[arg-type]
            phantom["rois"],  # type: ignore[arg-type]
            tumor_rois=["tumor1"],
            lsf=0.05,
            tumor_dose_gy=100.0,
            **common,  # type: ignore[arg-type]
        )
    assert "exactly one target" in str(both.value)
