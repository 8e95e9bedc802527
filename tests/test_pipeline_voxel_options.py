"""Every voxel option the user gives is used or refused (issue 9, defect 7 and physics item 6).

A uniform Bq/mL image with a known concentration makes the arithmetic exact (LDM, the
liver density everywhere, so each voxel's dose is C x its activity / its mass):

- 10 x 10 x 10 voxels of 4 mm (0.064 mL each), c = 2 MBq/mL everywhere: the image holds
  1000 x 0.064 mL x 2e6 Bq/mL = 0.128 GBq; the liver (6^3 = 216 voxels) holds
  216 x 0.064 x 2e6 Bq = 0.027648 GBq; tumor1 (2^3 = 8 voxels, inside the liver) holds
  8 x 0.064 x 2e6 Bq = 1.024e-3 GBq.
- Masses at 1.03 g/mL: liver 216 x 0.064 x 1.03 g = 14.23872 g, tumor1 8 x 0.064 x 1.03 g
  = 0.52736 g.
- Given A, LSF, R and a VOI, the VOI holds A x (1 - LSF) x (1 - R) and every voxel is
  scaled by the same factor: the VOI's dose is C x A_share / m.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from voxel_calls import voxel_run

from y90dose.cli.main import main
from y90dose.errors import InputError
from y90dose_service.voxel_jobs import run_voxel_job as run_study_job

SPACING_MM = 4.0
C_EANM = 49.67  # J/GBq, EANM 2022 (the default without a product)
C_GLASS = 50.0
C_RESIN = 49.38
CONCENTRATION_BQ_ML = 2.0e6
IMAGE_GBQ = 1000 * 0.064 * 2.0e6 * 1e-9  # 0.128
LIVER_GBQ = 216 * 0.064 * 2.0e6 * 1e-9  # 0.027648
TUMOR_GBQ = 8 * 0.064 * 2.0e6 * 1e-9  # 0.001024
LIVER_KG = 216 * 0.064 * 1.03 / 1000  # 0.01423872
TUMOR_KG = 8 * 0.064 * 1.03 / 1000  # 0.00052736


def _write(array: np.ndarray, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SPACING_MM,) * 3)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bqml")
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:8, 2:8, 2:8] = 1  # liver
    labels[4:6, 4:6, 4:6] = 2  # tumor1, inside the liver
    spect = _write(np.full((10, 10, 10), CONCENTRATION_BQ_ML, np.float32), folder / "pet.nii.gz")
    rois = _write(labels, folder / "labels.nii.gz")
    (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor1"}))
    return {"folder": folder, "spect": spect, "rois": rois}


def _run(study: dict[str, Path], out: Path, **options: Any) -> dict[str, Any]:
    result = voxel_run(
        study["spect"],
        study["rois"],
        out,
        method="ldm",
        image_units="bqml",
        write_pngs=False,
        **options,
    )
    return result.to_dict()


def test_bq_per_ml_without_activity_uses_the_image_calibration(
    study: dict[str, Path], tmp_path: Path
) -> None:
    summary = _run(study, tmp_path / "own")
    # C x c / rho: 49.67 J/GBq x 2e-3 GBq/mL / 1.03e-3 kg/mL = 96.446 Gy in every voxel
    expected_gy = C_EANM * 2.0e-3 / 1.03e-3
    assert summary["metrics"]["tumor1"]["mean_gy"] == pytest.approx(expected_gy, rel=1e-6)
    assert summary["metrics"]["liver"]["mean_gy"] == pytest.approx(expected_gy, rel=1e-6)
    assert summary["activity"]["image_calibration"] is None
    assert summary["energy_balance"]["activity_in_image_gbq"] == pytest.approx(IMAGE_GBQ)


def test_an_activity_rescales_the_named_voi(study: dict[str, Path], tmp_path: Path) -> None:
    """A = 0.002 GBq, LSF 0.1, R 0.05 into tumor1: it holds 0.00171 GBq, factor 1.669922."""
    summary = _run(
        study,
        tmp_path / "tumor",
        activity_gbq=0.002,
        lsf=0.1,
        residual=0.05,
        normalize_to="tumor1",
    )
    share_gbq = 0.002 * 0.9 * 0.95  # 0.00171
    assert summary["metrics"]["tumor1"]["mean_gy"] == pytest.approx(
        C_EANM * share_gbq / TUMOR_KG, rel=1e-6
    )  # 161.06 Gy
    calibration = summary["activity"]["image_calibration"]
    assert calibration["image_activity_gbq"] == pytest.approx(IMAGE_GBQ, rel=1e-6)
    assert calibration["image_activity_in_voi_gbq"] == pytest.approx(TUMOR_GBQ, rel=1e-6)
    assert calibration["factor"] == pytest.approx(share_gbq / TUMOR_GBQ, rel=1e-6)
    assert calibration["voi"] == "tumor1"
    assert summary["activity"]["method"] == "concentration_rescaled"
    # the whole image is scaled alike: the liver (uniform) gets the tumour's dose too
    assert summary["metrics"]["liver"]["mean_gy"] == pytest.approx(
        summary["metrics"]["tumor1"]["mean_gy"], rel=1e-6
    )
    assert summary["energy_balance"]["activity_in_image_gbq"] == pytest.approx(
        IMAGE_GBQ * share_gbq / TUMOR_GBQ, rel=1e-6
    )


def test_an_activity_rescales_the_liver_by_default(study: dict[str, Path], tmp_path: Path) -> None:
    """A = 0.05 GBq, LSF 0.06 into the liver: 0.047 GBq in 14.23872 g, 163.95 Gy."""
    summary = _run(study, tmp_path / "liver", activity_gbq=0.05, lsf=0.06, product="glass")
    assert summary["metrics"]["liver"]["mean_gy"] == pytest.approx(
        C_GLASS * 0.05 * 0.94 / LIVER_KG, rel=1e-6
    )
    calibration = summary["activity"]["image_calibration"]
    assert calibration["voi"] == "liver"
    assert calibration["image_activity_in_voi_gbq"] == pytest.approx(LIVER_GBQ, rel=1e-6)
    assert calibration["factor"] == pytest.approx(0.047 / LIVER_GBQ, rel=1e-6)
    assert summary["inputs"]["normalize_to"] == "liver"
    # 0.027648 GBq of its own vs 0.047 expected: -41 %, flagged
    assert any("own calibration" in w and "-41 %" in w for w in summary["warnings"])


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"normalize_to": "tumor1"}, "normalize_to"),
        ({"lsf": 0.1}, "lsf"),
        ({"residual": 0.02}, "residual"),
        ({"kernel": "dpk"}, "kernel"),
        ({"hu_density_curve": "curve.csv"}, "hu_density_curve"),
        ({"activity_gbq": 0.05, "normalize_to": "lesion1"}, "normalize_to"),
    ],
)
def test_options_without_effect_are_refused(
    study: dict[str, Path], tmp_path: Path, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as refused:
        _run(study, tmp_path / "refused", **options)
    assert refused.value.field == field
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize(
    ("options", "constant", "note"),
    [
        ({}, C_EANM, "glass 50 J/GBq (-0.66 % dose); resin 49.38 J/GBq (+0.59 % dose)"),
        ({"product": "glass"}, C_GLASS, "the glass product's default C (50 J/GBq)"),
        ({"product": "resin"}, C_RESIN, "the resin product's default C (49.38 J/GBq)"),
        (
            {"product": "glass", "energy_j_per_gbq": 49.0},
            49.0,
            "overrides the glass product's default: this dose differs from one at glass "
            "50 J/GBq (-2.00 % dose)",
        ),
    ],
)
def test_the_report_says_which_constant_and_how_it_differs(
    study: dict[str, Path], tmp_path: Path, options: dict[str, Any], constant: float, note: str
) -> None:
    """49.67 / 50 - 1 = -0.66 %, 49.67 / 49.38 - 1 = +0.59 %, 49 / 50 - 1 = -2.00 %."""
    summary = _run(study, tmp_path / "c", **options)
    assert summary["energy_j_per_gbq"] == constant
    assert note in summary["energy_note"]
    assert summary["metrics"]["liver"]["mean_gy"] == pytest.approx(
        constant * 2.0e-3 / 1.03e-3, rel=1e-6
    )


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_activity_rescales_a_bq_per_ml_image(
    study: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["voxel", "--spect", str(study["spect"]), "--rois", str(study["rois"])]
    base += ["--image-units", "bqml", "--method", "ldm", "--no-png"]
    options = ["--activity-gbq", "0.002", "--normalize-to", "tumor1"]
    code, out, _ = _cli([*base, *options, "--out", str(tmp_path / "j"), "--json"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["metrics"]["tumor1"]["mean_gy"] == pytest.approx(
        C_EANM * 0.002 / TUMOR_KG, rel=1e-6
    )  # 188.38 Gy
    assert summary["activity"]["image_calibration"]["factor"] == pytest.approx(
        0.002 / TUMOR_GBQ, rel=1e-6
    )
    code, out, _ = _cli([*base, *options, "--out", str(tmp_path / "t")], capsys)
    assert code == 0
    assert "the image's own calibration gives 0.001024 GBq there (0.128 GBq in the image)" in out
    assert "factor 1.95312 applied" in out
    assert "note: no product given: C = 49.67 J/GBq" in out


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--normalize-to", "tumor1"], "--normalize-to"),
        (["--lsf", "0.06"], "--lsf"),
        (["--kernel", "dpk"], "--kernel"),
        (["--activity-gbq", "1", "--normalize-to", "lesion1"], "--normalize-to"),
    ],
)
def test_cli_refuses_options_it_would_not_use(
    study: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    option: str,
) -> None:
    argv = ["voxel", "--spect", str(study["spect"]), "--rois", str(study["rois"])]
    argv += ["--image-units", "bqml", "--method", "ldm", "--out", str(tmp_path / "o"), *extra]
    code, _out, err = _cli(argv, capsys)
    assert code == 2
    assert err.startswith(f"y90dose voxel: error: {option}: ")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_service_runner_refuses_an_option_that_repeats_a_job_field(
    study: dict[str, Path], tmp_path: Path
) -> None:
    """``{"lsf": 0.05, "options": {"lsf": 0.1}}``: one of the two would be dropped."""
    with pytest.raises(InputError) as refused:
        run_study_job(
            study["folder"],
            {"activity_gbq": 0.05, "lsf": 0.05, "options": {"lsf": 0.1}},
            tmp_path / "job",
            lambda fraction, stage: None,
        )
    assert refused.value.field == "options"
    assert refused.value.value == ["lsf"]
