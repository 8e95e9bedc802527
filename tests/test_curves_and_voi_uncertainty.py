"""Activity-dose curves (issue 13 part 4) and a voxel run's VOI mean-dose uncertainty
(part 3), worked by hand.

Plans (physics.md 4.1, 4.3): MIRD D = C A (1 - LSF) / M is linear in A; for the partition
plan of 40 Gy to 1200 mL normal liver with one 200 mL tumour at TN 3, LSF 0.06 (masses
1.236 and 0.206 kg), the liver energy is C A (1 - LSF) = 40 x (3 x 0.206 + 1.236) =
74.16 J; at a quarter of the TN (0.75) the normal liver gets 74.16 / (0.75 x 0.206 +
1.236) = 53.333 Gy and the tumour 0.75 x 53.333 = 40.0 Gy.

Recovery coefficient: checked against a voxelised sphere blurred by scipy's Gaussian
filter (an independent computation) and the large-sphere limit 1 - 3 sigma / (R sqrt(2 pi)).

Delineation: a 10 x 10 x 10 voxel cube at 100 Gy in 0 Gy surroundings, eroded by one
voxel is 8^3 voxels at 100 Gy (mean 100), dilated (6-connected) adds its 6 faces of 100
voxels at 0 Gy: mean 100 x 1000 / 1600 = 62.5 Gy; SD = (100 - 62.5) / sqrt(12) = 10.825 Gy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from scipy import ndimage

from y90dose.cli.main import main
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.curves import plan_curves
from y90dose.models.mird import MirdDoseInput, dose_mird
from y90dose.models.partition import PartitionPlanInput, plan_partition
from y90dose.reports.curves import curves_png
from y90dose.uncertainty.recovery import FWHM_PER_SIGMA, recovery_coefficient, sphere_radius_mm
from y90dose.uncertainty.voi import voi_mean_uncertainty

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- plan curves ---------------------------------------------------------------------------


def test_mird_doses_are_linear_in_the_activity() -> None:
    inputs = MirdDoseInput(activity_gbq=3, perfused_volume_ml=1165, lsf=0.08)
    curves = plan_curves(inputs, dose_mird(inputs))
    curve = curves.against_activity
    assert curve.x[0] == pytest.approx(0.075) and curve.x[-1] == pytest.approx(6.0)
    for x, perfused, lung in zip(
        curve.x, curve.series["perfused"]["mean_gy"], curve.series["lung"]["mean_gy"], strict=True
    ):
        assert perfused == pytest.approx(50 * x * 0.92 / 1.19995, rel=1e-12)
        assert lung == pytest.approx(50 * x * 0.08 / 1.0, rel=1e-12)
    assert curves.against_tn is None  # no TN in MIRD
    lsf = curves.against_lsf
    assert lsf is not None and lsf.x[-1] == pytest.approx(0.3)  # max(0.3, 2 x 0.08)
    assert lsf.series["lung"]["mean_gy"][-1] == pytest.approx(50 * 3 * 0.3, rel=1e-12)


def test_partition_curve_against_tn_by_hand() -> None:
    inputs = PartitionPlanInput(
        normal_dose_gy=40, tumor_volume_ml=[200], tn_ratio=[3], normal_volume_ml=1200, lsf=0.06
    )
    curves = plan_curves(inputs, plan_partition(inputs))
    tn = curves.against_tn
    assert tn is not None and tn.x[0] == 0.25 and tn.nominal_x == 1.0
    assert tn.series["normal"]["mean_gy"][0] == pytest.approx(74.16 / 1.3905, rel=1e-9)
    assert tn.series["tumor"]["mean_gy"][0] == pytest.approx(40.0, rel=1e-9)
    # the planned TN (scale 1) is a point of the curve: the plan's own 3 x 40 Gy
    index = tn.x.index(1.0)
    assert tn.series["tumor"]["mean_gy"][index] == pytest.approx(120.0, rel=1e-9)
    lsf = curves.against_lsf
    assert lsf is not None
    # normal-liver dose falls as (1 - LSF) at the planned activity: 40 / 0.94 at LSF 0
    assert lsf.series["normal"]["mean_gy"][0] == pytest.approx(40 / 0.94, rel=1e-9)


def test_bsa_curves_hold_the_planned_activity_and_say_so() -> None:
    inputs = BsaPlanInput(
        height_cm=175, weight_kg=75, tumor_volume_ml=450, liver_volume_ml=1500, lsf=0.12
    )
    curves = plan_curves(inputs, plan_bsa(inputs))
    assert curves.against_tn is None and curves.against_lsf is not None
    assert any("reduction bands" in note for note in curves.notes)
    assert curves_png(curves).startswith(PNG_SIGNATURE)


def test_cli_plan_and_dose_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "curves.png"
    argv = ["plan", "partition", "--normal-dose-gy", "40", "--tumor-volume-ml", "200"]
    argv += ["--tn-ratio", "3", "--normal-volume-ml", "1200", "--lsf", "0.06"]
    assert main([*argv, "--curves", str(png), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert set(data["curves"]) >= {"against_activity", "against_tn", "against_lsf"}
    assert data["activity_gbq"] == data["curves"]["activity_gbq"]
    assert main([*argv, "--curves", str(tmp_path / "curves.pdf")]) == 2
    assert "a file name ending in .png" in capsys.readouterr().err
    assert main([*argv]) == 0
    assert "curves" not in capsys.readouterr().out


# --- recovery coefficient and VOI uncertainty ----------------------------------------------


@pytest.mark.parametrize(("radius_mm", "fwhm_mm"), [(10.0, 12.0), (20.0, 8.0), (5.0, 15.0)])
def test_recovery_against_a_blurred_voxel_sphere(radius_mm: float, fwhm_mm: float) -> None:
    step = 0.5
    size = int((2 * radius_mm + 6 * fwhm_mm) / step) | 1
    c = size // 2
    z, y, x = np.ogrid[:size, :size, :size]
    sphere = ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) * step**2 <= radius_mm**2
    blurred = ndimage.gaussian_filter(sphere.astype(float), fwhm_mm / FWHM_PER_SIGMA / step)
    volume_ml = sphere.sum() * step**3 / 1000.0
    assert recovery_coefficient(volume_ml, fwhm_mm) == pytest.approx(
        blurred[sphere].mean(), rel=0.01
    )


def test_recovery_limits() -> None:
    volume_ml = 4 / 3 * math.pi * 100.0**3 / 1000.0  # R = 100 mm
    assert sphere_radius_mm(volume_ml) == pytest.approx(100.0)
    sigma = 10.0 / FWHM_PER_SIGMA
    assert recovery_coefficient(volume_ml, 10.0) == pytest.approx(
        1 - 3 * sigma / (100.0 * math.sqrt(2 * math.pi)), rel=2e-3
    )
    assert recovery_coefficient(volume_ml, 1e-3) == pytest.approx(1.0, abs=1e-4)


def test_voi_uncertainty_of_a_hot_cube_by_hand() -> None:
    dose = np.zeros((16, 16, 16))
    mask = np.zeros(dose.shape, bool)
    mask[3:13, 3:13, 3:13] = True
    dose[mask] = 100.0
    u = voi_mean_uncertainty(
        dose,
        mask,
        (4.0, 4.0, 4.0),
        100.0,
        calibration_sd_percent=5.0,
        calibration_source="given",
        resolution_fwhm_mm=12.0,
        resolution_source="given",
    )
    assert u.eroded_mean_gy == 100.0
    assert u.dilated_mean_gy == pytest.approx(62.5)
    assert u.delineation_sd_gy == pytest.approx(37.5 / math.sqrt(12))
    assert u.calibration_sd_gy == pytest.approx(5.0)
    # 64 mL cube as a sphere of 64 mL at 12 mm FWHM
    rc = recovery_coefficient(64.0, 12.0)
    assert u.recovery_coefficient == rc
    assert u.partial_volume_sd_gy == pytest.approx(100 * (1 / rc - 1) / math.sqrt(3))
    assert u.sd_gy == pytest.approx(
        math.sqrt(5.0**2 + u.partial_volume_sd_gy**2 + (37.5 / math.sqrt(12)) ** 2)
    )
    assert sum(d.share for d in u.drivers) == pytest.approx(1.0)
    # lognormal interval: mean kept, ln(high / low) = 2 x 1.96 x s
    s = math.sqrt(math.log1p((u.sd_gy / 100.0) ** 2))
    assert math.log(u.high_gy / u.low_gy) == pytest.approx(2 * 1.959964 * s, rel=1e-6)
    assert u.low_gy < 100.0 < u.high_gy


# --- voxel runs -------------------------------------------------------------------------

SPACING_MM = 4.8


def _write(array: np.ndarray, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SPACING_MM,) * 3)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A liver (10 counts per voxel) holding a tumour (50), label map 1 liver, 2 tumour."""
    folder = tmp_path_factory.mktemp("voxelcurves")
    k, j, i = np.meshgrid(*(np.arange(30),) * 3, indexing="ij")
    liver = (i - 15) ** 2 + (j - 15) ** 2 + (k - 15) ** 2 <= 9**2
    tumour = (i - 18) ** 2 + (j - 15) ** 2 + (k - 15) ** 2 <= 3**2
    labels = np.where(liver, 1, 0).astype(np.uint8)
    labels[tumour] = 2
    counts = np.where(liver, 10.0, 0.0).astype(np.float32)
    counts[tumour] = 50.0
    (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor1"}))
    return {
        "spect": _write(counts, folder / "spect.nii.gz"),
        "rois": _write(labels, folder / "labels.nii.gz"),
        "folder": folder,
    }


def test_voxel_run_reports_each_voi_mean_uncertainty(study: dict[str, Path]) -> None:
    from y90dose.pipeline import voxel_dose

    run = voxel_dose(study["spect"], study["rois"], options={"activity_gbq": 3.1, "method": "ldm"})
    for name, metrics in run.metrics.items():
        u = metrics.mean_uncertainty
        assert u is not None, name
        # 5 % dose calibrator (scaled to activity_gbq), 15 mm SPECT resolution by default
        assert u.calibration_sd_gy == pytest.approx(0.05 * metrics.mean_gy)
        assert u.resolution_fwhm_mm == 15.0 and "default" in u.resolution_source
        assert u.recovery_coefficient == recovery_coefficient(metrics.volume_ml, 15.0)
    # LDM with uniform compartments: the tumour (50 counts) eroded is uniform at its mean,
    # dilated takes in normal liver (10 counts, a fifth of the dose)
    tumour = run.metrics["tumor1"]
    assert tumour.mean_uncertainty is not None
    assert tumour.mean_uncertainty.eroded_mean_gy == pytest.approx(tumour.mean_gy, rel=1e-6)
    assert tumour.mean_uncertainty.dilated_mean_gy < tumour.mean_gy
    given = voxel_dose(
        study["spect"],
        study["rois"],
        options={
            "activity_gbq": 3.1,
            "method": "ldm",
            "sd_calibration_percent": 3,
            "resolution_fwhm_mm": 8,
        },
    )
    liver = given.metrics["liver"].mean_uncertainty
    assert liver is not None
    assert liver.calibration_sd_percent == 3 and liver.calibration_source == "given"
    assert liver.resolution_fwhm_mm == 8 and liver.resolution_source == "given"


def test_voxel_curves_scale_linearly(study: dict[str, Path]) -> None:
    from y90dose.pipeline import voxel_dose
    from y90dose.pipeline.curves import voxel_curves

    run = voxel_dose(study["spect"], study["rois"], options={"activity_gbq": 3.1, "method": "ldm"})
    curves = voxel_curves(run)
    curve = curves.against_activity
    assert curve.x[-1] == pytest.approx(6.2) and curve.nominal_x == 3.1
    tumour = run.metrics["tumor1"]
    series = curve.series["tumor1"]
    assert series["mean_gy"][-1] == pytest.approx(2 * tumour.mean_gy, rel=1e-12)
    assert series["d70_gy"][-1] == pytest.approx(2 * tumour.d70_gy, rel=1e-6)
    # uniform tumour dose T: V100 is 100 % from the activity giving 100 Gy, 0 % below
    t_gy = tumour.mean_gy
    for x, v100 in zip(curve.x, series["v100_percent"], strict=True):
        if abs(t_gy * x / 3.1 - 100.0) > 1e-3:
            assert v100 == (100.0 if t_gy * x / 3.1 > 100.0 else 0.0), x
    assert set(curve.series) == set(run.metrics)


def test_cli_voxel_curves(
    study: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["voxel", "--spect", str(study["spect"]), "--rois", str(study["rois"])]
    argv += ["--activity-gbq", "3.1", "--method", "ldm", "--no-png"]
    refused = tmp_path / "refused"
    assert main([*argv, "--out", str(refused), "--curves", str(tmp_path / "c.svg")]) == 2
    assert "a file name ending in .png" in capsys.readouterr().err
    assert not refused.exists()  # refused before any work
    png = tmp_path / "curves.png"
    assert main([*argv, "--out", str(tmp_path / "out"), "--curves", str(png), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert set(data["curves"]["against_activity"]["series"]["tumor1"]) == {
        "mean_gy",
        "d70_gy",
        "v100_percent",
    }
    assert data["metrics"]["liver"]["mean_uncertainty"]["level"] == 0.95
    assert main([*argv, "--out", str(tmp_path / "out2")]) == 0
    assert "mean dose, 95 % interval" in capsys.readouterr().out
