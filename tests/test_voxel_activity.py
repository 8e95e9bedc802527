"""Activity maps from counts, Bq/mL images and MAA (y90dose.voxel.activity).

Relations checked: A_mask = A_administered x (1 - LSF) x (1 - R) (physics.md 4.1);
A_voxel = c x V_voxel; a real FDG PET (TCIA STS_001, SUV values used as relative counts)
scaled to an activity and carried through DVK and the DVH.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from y90dose.errors import GeometryError, InputError
from y90dose.voxel.activity import (
    ActivityMethod,
    activity_from_concentration,
    activity_from_counts,
    activity_predictive_from_maa,
)

SHARED_PET = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "sts-petct" / "STS_001"
)


def _phantom() -> tuple[np.ndarray, np.ndarray]:
    counts = np.zeros((6, 6, 6))
    counts[1:5, 1:5, 1:5] = 10.0
    counts[2, 2, 2] = 50.0  # a hot voxel
    counts[0, 0, 0] = 4.0  # spill-out outside the mask
    mask = counts > 5.0
    return counts, mask


def test_counts_scaled_to_administered_activity() -> None:
    counts, mask = _phantom()
    result = activity_from_counts(
        counts,
        spacing_zyx_mm=4.0,
        mask=mask,
        administered_activity_gbq=3.0,
        lung_shunt_fraction=0.08,
        residual_fraction=0.02,
        mask_name="liver",
    )
    target = 3.0 * 0.92 * 0.98
    assert result.method is ActivityMethod.COUNTS_SCALED
    assert result.target_activity_gbq == pytest.approx(target)
    assert result.activity_in_mask_gbq == pytest.approx(target)
    counts_in_mask = 63 * 10.0 + 50.0
    assert result.counts_in_mask == pytest.approx(counts_in_mask)
    assert result.scale_factor == pytest.approx(target / counts_in_mask)
    assert result.activity_outside_mask_gbq == pytest.approx(4.0 * target / counts_in_mask)
    assert result.activity_gbq[2, 2, 2] == pytest.approx(5 * result.activity_gbq[1, 1, 1])
    assert "liver" in result.description and "LSF" in result.description
    assert result.provenance()["mask_name"] == "liver"


def test_zero_outside_mask() -> None:
    counts, mask = _phantom()
    result = activity_from_counts(
        counts, spacing_zyx_mm=4.0, mask=mask, administered_activity_gbq=1.0, zero_outside_mask=True
    )
    assert result.activity_outside_mask_gbq == 0.0
    assert result.total_activity_gbq == pytest.approx(1.0)
    assert counts[0, 0, 0] == 4.0  # the input is not modified


def test_predictive_from_maa() -> None:
    counts, mask = _phantom()
    result = activity_predictive_from_maa(
        counts, spacing_zyx_mm=4.0, mask=mask, planned_activity_gbq=2.5, lung_shunt_fraction=0.1
    )
    assert result.method is ActivityMethod.PREDICTIVE_MAA
    assert result.activity_in_mask_gbq == pytest.approx(2.25)
    assert "planned" in result.description


def test_concentration_used_as_is() -> None:
    concentration = np.full((2, 3, 4), 2.0e6)  # 2 MBq/mL
    mask = np.zeros((2, 3, 4), dtype=bool)
    mask[0] = True
    result = activity_from_concentration(
        concentration, spacing_zyx_mm=(2.0, 4.0, 5.0), mask=mask, mask_name="tumour"
    )
    voxel_ml = 2 * 4 * 5 / 1000.0
    assert result.activity_gbq[1, 2, 3] == pytest.approx(2.0e6 * voxel_ml * 1e-9)
    assert result.total_activity_gbq == pytest.approx(24 * 2.0e6 * voxel_ml * 1e-9)
    assert result.activity_in_mask_gbq == pytest.approx(result.total_activity_gbq / 2)
    assert result.method is ActivityMethod.CONCENTRATION


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"counts": -np.ones((3, 3, 3))}, InputError, "counts"),
        ({"mask": np.zeros((3, 3, 3), dtype=bool)}, InputError, "mask 'liver'"),
        ({"counts": np.zeros((3, 3, 3))}, InputError, "mask 'liver'"),
        ({"mask": np.ones((2, 3, 3), dtype=bool)}, GeometryError, None),
        ({"administered_activity_gbq": 0.0}, InputError, "administered_activity_gbq"),
        ({"administered_activity_gbq": -1.0}, InputError, "administered_activity_gbq"),
        ({"lung_shunt_fraction": 1.0}, InputError, "lung_shunt_fraction"),
        ({"residual_fraction": -0.1}, InputError, "residual_fraction"),
    ],
)
def test_refusals(change: dict[str, object], error: type[Exception], field: str | None) -> None:
    arguments: dict[str, object] = {
        "counts": np.ones((3, 3, 3)),
        "spacing_zyx_mm": 4.0,
        "mask": np.ones((3, 3, 3), dtype=bool),
        "administered_activity_gbq": 2.0,
    }
    arguments.update(change)
    counts = arguments.pop("counts")
    with pytest.raises(error) as info:
        activity_from_counts(counts, **arguments)  # type: ignore[arg-type]
    if field is not None:
        assert info.value.field == field  # type: ignore[attr-defined]


def test_negative_concentration_refused() -> None:
    with pytest.raises(InputError):
        activity_from_concentration(-np.ones((2, 2, 2)), spacing_zyx_mm=4.0)


@pytest.mark.skipif(not SHARED_PET.exists(), reason="../shared/datasets not present")
def test_real_pet_through_dvk_and_dvh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real PET (not made for this project) as relative counts: 1 GBq in the GTV mask."""
    sitk = pytest.importorskip("SimpleITK")
    from y90dose.dvh import dose_metrics
    from y90dose.voxel.convolution import dvk_dose
    from y90dose.voxel.ldm import ldm_dose

    monkeypatch.setenv("Y90DOSE_CACHE_DIR", str(tmp_path))
    image = sitk.ReadImage(str(SHARED_PET / "PET" / "nifti" / "image" / "image.nii.gz"))
    mask_image = sitk.ReadImage(str(SHARED_PET / "PET" / "nifti" / "mask" / "mask.nii.gz"))
    counts = np.clip(sitk.GetArrayFromImage(image).astype(np.float64), 0.0, None)
    mask = sitk.GetArrayFromImage(mask_image) > 0
    spacing_zyx = tuple(reversed(image.GetSpacing()))
    activity = activity_from_counts(
        counts,
        spacing_zyx_mm=spacing_zyx,
        mask=mask,
        administered_activity_gbq=1.0,
        mask_name="GTV",
    )
    assert activity.activity_in_mask_gbq == pytest.approx(1.0)
    ldm = ldm_dose(activity.activity_gbq, spacing_zyx_mm=spacing_zyx)
    dvk = dvk_dose(activity.activity_gbq, spacing_zyx_mm=spacing_zyx)
    mass_kg = 1.03 * np.prod(spacing_zyx) / 1e6
    # energy: LDM deposits all of C x A; DVK the same minus what leaves the cropped grid
    assert float(ldm.dose_gy.sum()) * mass_kg == pytest.approx(49.67 * activity.total_activity_gbq)
    assert 0.95 < dvk.deposited_energy_j / ldm.deposited_energy_j <= 1.0 + 1e-6
    m_ldm = dose_metrics(ldm.dose_gy, mask, spacing_zyx_mm=spacing_zyx, voi_name="GTV")
    m_dvk = dose_metrics(dvk.dose_gy, mask, spacing_zyx_mm=spacing_zyx, voi_name="GTV")
    # the mean dose to the GTV: 1 GBq x 49.67 J/GBq / GTV mass, DVK a little lower
    # (energy leaves the GTV), and the kernel smooths: lower maximum
    expected_mean = 49.67 / (m_ldm.mass_g / 1000.0)
    assert m_ldm.mean_gy == pytest.approx(expected_mean, rel=1e-6)
    assert m_dvk.mean_gy < m_ldm.mean_gy
    assert m_dvk.max_gy < m_ldm.max_gy
