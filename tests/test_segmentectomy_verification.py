"""Segmentectomy verification after treatment (issue 15 section 3): a voxel dose map with a
segment (perfused territory) VOI and a tumour VOI gives the tumour's and segment's mean,
D70 and V200 together, with a warning when the tumour's mean or D70 is below the floor.

Conventions (y90dose.dvh): D70 is the minimum dose to the hottest 70 % (no interpolation),
V200 the percent at >= 200 Gy; uniform density, so volume and mass weighting agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.cli import main as cli_main
from y90dose.errors import InputError
from y90dose.findings import Code
from y90dose.segmentectomy import verify_segmentectomy
from y90dose.settings import ClinicalSettings

SPACING = (2.0, 2.0, 2.0)


def verify(segment_doses: list[float], tumour_doses: list[float], **more: object) -> object:
    """Voxels in a row: the segment holds every voxel, the tumour the last ones."""
    doses = np.array(segment_doses + tumour_doses, dtype=float).reshape(1, 1, -1)
    segment = np.ones(doses.shape, bool)
    tumour = np.zeros(doses.shape, bool)
    tumour[..., len(segment_doses) :] = True
    return verify_segmentectomy(
        doses,
        {"segment": segment, "tumour": tumour},
        "segment",
        ["tumour"],
        spacing_zyx_mm=SPACING,
        density_g_ml=1.03,
        **more,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("dose_gy", "flagged"), [(199.9, True), (200.0, False), (200.1, False)])
def test_uniform_tumour_at_just_below_and_just_above_the_floor(
    dose_gy: float, flagged: bool
) -> None:
    result = verify([100.0] * 4, [dose_gy] * 4)
    segment, tumour = result.doses  # type: ignore[attr-defined]
    assert (tumour.mean_gy, tumour.d70_gy) == pytest.approx((dose_gy, dose_gy))
    assert tumour.v200_percent == (0.0 if dose_gy < 200 else 100.0)
    # segment: 4 voxels at 100 Gy and 4 at dose_gy -> mean (100 + dose) / 2; hottest 70 %
    # is 5.6 voxels, so D70 is the 6th hottest voxel, 100 Gy
    assert segment.mean_gy == pytest.approx((100.0 + dose_gy) / 2)
    assert segment.d70_gy == 100.0
    assert segment.v200_percent == (0.0 if dose_gy < 200 else 50.0)
    codes = [f.code for f in result.findings]  # type: ignore[attr-defined]
    assert (Code.TUMOR_BELOW_SEGMENTECTOMY_FLOOR in codes) is flagged


def test_d70_below_the_floor_with_the_mean_above() -> None:
    # tumour 300, 300, 300, 150, 150: mean 240 Gy; hottest 70 % = 3.5 voxels -> D70 = 150
    result = verify([50.0], [300.0, 300.0, 300.0, 150.0, 150.0])
    tumour = result.doses[1]  # type: ignore[attr-defined]
    assert (tumour.mean_gy, tumour.d70_gy, tumour.v200_percent) == pytest.approx(
        (240.0, 150.0, 60.0)
    )
    (finding,) = result.findings  # type: ignore[attr-defined]
    assert "D70 150.0 Gy below the 200 Gy segmentectomy floor" in finding.message
    assert "mean" not in finding.message


def test_mean_below_the_floor_with_the_d70_above() -> None:
    # nine voxels at 210 and one at 0: mean 189 Gy; hottest 70 % = 7 voxels -> D70 = 210
    result = verify([50.0], [210.0] * 9 + [0.0])
    tumour = result.doses[1]  # type: ignore[attr-defined]
    assert (tumour.mean_gy, tumour.d70_gy, tumour.v200_percent) == pytest.approx(
        (189.0, 210.0, 90.0)
    )
    (finding,) = result.findings  # type: ignore[attr-defined]
    assert "mean 189.0 Gy below" in finding.message and "D70" not in finding.message


@pytest.mark.parametrize(("dose_gy", "flagged"), [(149.9, True), (150.0, False), (150.1, False)])
def test_a_site_floor_applies_by_product(dose_gy: float, flagged: bool) -> None:
    settings = ClinicalSettings(resin_segmentectomy_floor="eanm2022")
    result = verify([100.0], [dose_gy] * 3, product="resin", settings=settings)
    assert result.floor_gy == 150.0 and result.definition == "eanm2022"  # type: ignore[attr-defined]
    assert bool(result.findings) is flagged  # type: ignore[attr-defined]


def test_a_segment_that_is_not_a_voi_or_no_tumour_is_refused() -> None:
    doses = np.full((1, 1, 3), 250.0)
    mask = np.ones(doses.shape, bool)
    with pytest.raises(InputError) as raised:
        verify_segmentectomy(
            doses,
            {"liver": mask},
            "segment VI",
            ["liver"],
            spacing_zyx_mm=SPACING,
            density_g_ml=1.0,
        )
    assert raised.value.field == "segment_roi" and "['liver']" in raised.value.allowed
    with pytest.raises(InputError) as raised:
        verify_segmentectomy(
            doses, {"seg": mask}, "seg", [], spacing_zyx_mm=SPACING, density_g_ml=1.0
        )
    assert "tumour" in raised.value.allowed


def _write(array: np.ndarray, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    sitk.WriteImage(image, str(path))
    return path


def test_voxel_run_reports_the_segmentectomy_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A segment sphere (r 9 voxels) with a tumour sphere (r 3) at 5x the counts; LDM, one
    # density (1.03 g/mL), C = 49.67 J/GBq (no product). In a label map each voxel has one
    # label, so the segment VOI is the sphere without the tumour; it holds A x (1 - LSF):
    # tumour dose = C x A x 0.94 x 50 / (segment VOI counts) / voxel mass, and the segment
    # VOI's dose is a fifth of the tumour's.
    k, j, i = np.meshgrid(*(np.arange(30),) * 3, indexing="ij")
    segment = (i - 15) ** 2 + (j - 15) ** 2 + (k - 15) ** 2 <= 81
    tumour = (i - 18) ** 2 + (j - 15) ** 2 + (k - 15) ** 2 <= 9
    labels = np.where(segment, 1, 0).astype(np.uint8)
    labels[tumour] = 2
    counts = np.where(segment, 10.0, 0.0).astype(np.float32)
    counts[tumour] = 50.0
    n_segment, n_tumour = int(segment.sum()), int(tumour.sum())
    segment_counts = 10 * (n_segment - n_tumour)
    voxel_kg = 8.0 / 1000 * 1.03 / 1000  # 2 mm cube = 0.008 mL
    tumour_gy_per_gbq = 49.67 * 0.94 * 50 / segment_counts / voxel_kg
    activity = 190.0 / tumour_gy_per_gbq  # tumour at 190 Gy: below the 200 Gy floor
    (tmp_path / "labels.json").write_text(json.dumps({"1": "segment_VI", "2": "tumor1"}))
    argv = [
        "voxel",
        "--spect", str(_write(counts, tmp_path / "spect.nii.gz")),
        "--rois", str(_write(labels, tmp_path / "labels.nii.gz")),
        "--roi-names", str(tmp_path / "labels.json"),
        "--activity-gbq", f"{activity:.9f}",
        "--lsf", "0.06",
        "--method", "ldm",
        "--tumor-roi", "tumor1",
        "--segment-roi", "segment_VI",
        "--normalize-to", "segment_VI",
        "--no-png",
    ]  # fmt: skip
    assert cli_main.main([*argv, "--out", str(tmp_path / "out"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    check = data["segmentectomy"]
    assert check["floor_gy"] == 200.0 and check["definition"] == "definition"
    segment_row, tumour_row = check["doses"]
    assert segment_row["voi"] == "segment_VI" and tumour_row["voi"] == "tumor1"
    assert tumour_row["mean_gy"] == pytest.approx(190.0, rel=1e-5)
    assert tumour_row["d70_gy"] == pytest.approx(190.0, rel=1e-5)
    assert tumour_row["v200_percent"] == 0.0
    assert segment_row["mean_gy"] == pytest.approx(190.0 / 5, rel=1e-5)
    assert segment_row["d70_gy"] == pytest.approx(38.0, rel=1e-5)
    assert [f["code"] for f in check["findings"]] == ["TUMOR_BELOW_SEGMENTECTOMY_FLOOR"]
    assert cli_main.main([*argv, "--out", str(tmp_path / "out2")]) == 0
    text = capsys.readouterr().out
    assert "segmentectomy verification against 200 Gy" in text
    assert "TUMOR_BELOW_SEGMENTECTOMY_FLOOR: tumour 'tumor1': mean 190.0 Gy and D70" in text
