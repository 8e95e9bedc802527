"""CT lung mass (issue 13 part 2) on a digital phantom with known lungs, airways and vessels.

The phantom (:mod:`y90dose.phantoms.ct_anatomy`, ``lung_detail=True``) holds two ellipsoid
lungs (semi-axes 48 x 60 x 70 mm, -850 HU), the liver dome cutting the right lung's base,
a trachea and two main bronchi (air) reaching into the lungs, and soft-tissue vessels and a
nodule inside them. The truth (:func:`lung_truth`) is integrated on a 1 mm grid
(:func:`lung_reference`) independently of the segmentation. Targets: volume within 3 %,
mass within 5 %.

Hand check of the reference: the left lung is the ellipsoid, 4/3 x pi x 48 x 60 x 70 mm3 =
844.46 mL, less the part of the left main bronchus inside it (a 6 mm tube, about 3 mL);
its parenchyma at -850 HU has the density 0.00121 + 0.15 x (1 - 0.00121) = 0.15103 g/mL
on the air-water segment of the curve, so 0.1275 kg without the denser vessels, nodule and
the soft edge at the chest wall.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.cli.main import main
from y90dose.errors import ImageError
from y90dose.imaging import Grid
from y90dose.imaging.lung_segmentation import segment_lungs
from y90dose.imaging.nifti import write_image_file
from y90dose.phantoms.ct_anatomy import (
    NODULE,
    ct_image,
    grid_points_mm,
    lung_reference,
    lung_truth,
    masks_on,
)
from y90dose.pipeline.lung_mass import measure_lung_mass

ELLIPSOID_ML = 4.0 / 3.0 * math.pi * 48 * 60 * 70 / 1000.0
PARENCHYMA_G_ML = 0.00121 + 0.15 * (1 - 0.00121)


def chest_grid(spacing_mm: float, z_from: float = 0.0, z_to: float = 200.0) -> Grid:
    """Axial grid over the trunk: x -170..170, y -125..125 mm, z as given."""
    shape = (
        round((z_to - z_from) / spacing_mm) + 1,
        round(250 / spacing_mm) + 1,
        round(340 / spacing_mm) + 1,
    )
    return Grid(shape, (-170.0, -125.0, z_from), (spacing_mm,) * 3)


@pytest.fixture(scope="module")
def reference() -> dict[str, float]:
    return lung_reference(1.0)


def test_the_reference_is_the_phantom_by_hand(reference: dict[str, float]) -> None:
    assert 0.99 * ELLIPSOID_ML < reference["left_volume_ml"] < ELLIPSOID_ML
    # the liver dome takes the right lung's base: smaller than the left
    assert reference["right_volume_ml"] < reference["left_volume_ml"]
    pure_kg = ELLIPSOID_ML * PARENCHYMA_G_ML / 1000.0
    assert pure_kg < reference["left_mass_kg"] < 1.25 * pure_kg


@pytest.mark.parametrize(
    ("spacing_mm", "noise_hu"),
    [(2.5, 10.0), (5.0, 10.0), (2.5, 40.0)],
    ids=["2.5mm", "5mm", "2.5mm-noisy"],
)
def test_volume_within_3_and_mass_within_5_percent(
    reference: dict[str, float], spacing_mm: float, noise_hu: float
) -> None:
    ct = ct_image(chest_grid(spacing_mm), lung_detail=True, noise_hu=noise_hu, seed=3)
    lungs, segmentation = measure_lung_mass(ct)
    assert lungs.complete and lungs.separated
    assert lungs.lung_volume_ml == pytest.approx(reference["lung_volume_ml"], rel=0.03)
    assert lungs.lung_mass_kg == pytest.approx(reference["lung_mass_kg"], rel=0.05)
    assert lungs.left is not None and lungs.right is not None
    for side, part in (("left", lungs.left), ("right", lungs.right)):
        assert part.volume_ml == pytest.approx(reference[f"{side}_volume_ml"], rel=0.03), side
        assert part.mass_kg == pytest.approx(reference[f"{side}_mass_kg"], rel=0.05), side
    # the airways were removed, not counted as lung: the trachea (r 9 mm, z 130-200) and
    # the bronchi hold about 25 mL
    assert 10.0 < lungs.airways_removed_ml < 40.0
    assert segmentation.airways.any()


def test_airways_out_vessels_in_left_is_patient_left() -> None:
    grid = chest_grid(2.5)
    ct = ct_image(grid, lung_detail=True)
    segmentation = segment_lungs(ct)
    nz, ny, nx = grid.shape_zyx
    truth = np.zeros(grid.shape_zyx, bool)
    airway_in_lung = np.zeros(grid.shape_zyx, bool)
    from y90dose.phantoms.ct_anatomy import LUNGS, airway_distance

    for k in range(nz):
        points = grid_points_mm(grid, k)
        truth[k] = lung_truth(points)["lung"].reshape(ny, nx)
        inside_lung = np.zeros(len(points), bool)
        for centre, semi in LUNGS:
            inside_lung |= (((points - np.asarray(centre)) / np.asarray(semi)) ** 2).sum(1) < 1
        airway_in_lung[k] = ((airway_distance(points) < -1.5) & inside_lung).reshape(ny, nx)
    assert airway_in_lung.sum() > 50  # the bronchi do reach into the lungs
    assert not (segmentation.lungs & airway_in_lung).any()
    # the nodule's centre (soft tissue, 40 HU) is filled into the left lung
    index = np.rint(grid.physical_mm_to_index(np.asarray([NODULE[0]]))[0]).astype(int)
    assert segmentation.left is not None and segmentation.left[index[2], index[1], index[0]]
    # left = patient left = +x (DICOM LPS)
    assert segmentation.right is not None
    x_left = np.nonzero(segmentation.left)[2].mean()
    x_right = np.nonzero(segmentation.right)[2].mean()
    assert (
        grid.index_to_physical_mm([x_left, 0, 0])[0]
        > 0
        > grid.index_to_physical_mm([x_right, 0, 0])[0]
    )
    # overlap with the truth: Dice above 0.97
    dice = 2 * (segmentation.lungs & truth).sum() / (segmentation.lungs.sum() + truth.sum())
    assert dice > 0.97


def test_reversed_slice_order_gives_the_same_lungs() -> None:
    grid = chest_grid(5.0)
    flipped = Grid(grid.shape_zyx, (-170.0, -125.0, 200.0), grid.spacing_mm, np.diag([1, 1, -1]))
    upright, _ = measure_lung_mass(ct_image(grid, lung_detail=True, noise_hu=0))
    reversed_, _ = measure_lung_mass(ct_image(flipped, lung_detail=True, noise_hu=0))
    assert reversed_.lung_volume_ml == pytest.approx(upright.lung_volume_ml, rel=1e-9)
    assert reversed_.airways_removed_ml == pytest.approx(upright.airways_removed_ml, rel=1e-9)


def test_lungs_cut_by_the_ct_are_incomplete() -> None:
    lungs, _ = measure_lung_mass(ct_image(chest_grid(5.0, 40.0, 140.0), lung_detail=True))
    assert not lungs.complete
    assert lungs.cut_at == ["first z slice", "last z slice"]
    assert any("field of view" in note for note in lungs.notes)


def test_a_ct_without_lungs_is_refused() -> None:
    with pytest.raises(ImageError, match="no lung"):
        measure_lung_mass(ct_image(chest_grid(5.0, -100.0, 0.0)))


@pytest.fixture(scope="module")
def ct_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lungct")
    whole = write_image_file(ct_image(chest_grid(5.0), lung_detail=True), folder / "chest.nii.gz")
    cut = write_image_file(
        ct_image(chest_grid(5.0, 40.0, 140.0), lung_detail=True), folder / "cut.nii.gz"
    )
    return {"whole": whole, "cut": cut, "folder": folder}


def test_cli_lung_mass_json_and_mask(
    ct_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = ct_files["folder"] / "lungs.nii.gz"
    assert main(["lung-mass", "--ct", str(ct_files["whole"]), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    voxel_ml = 5.0**3 / 1000.0
    assert data["right"]["volume_ml"] == pytest.approx((labels == 1).sum() * voxel_ml)
    assert data["left"]["volume_ml"] == pytest.approx((labels == 2).sum() * voxel_ml)
    assert data["lung_volume_ml"] == pytest.approx((labels > 0).sum() * voxel_ml)
    assert data["complete"] is True and data["mask_file"] == str(out)


def test_plan_with_ct_uses_the_measured_mass(
    ct_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", "mird", "--target-dose-gy", "120", "--perfused-volume-ml", "1165"]
    assert main([*argv, "--lsf", "0.08", "--ct", str(ct_files["whole"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    mass = data["lung_mass_measurement"]["lung_mass_kg"]
    assert data["constants"]["lung_mass_kg"] == mass
    # D_L = C x A x LSF / M_L with the measured mass
    assert data["doses_gy"]["lung"] == pytest.approx(50 * data["activity_gbq"] * 0.08 / mass)
    codes = {f["code"] for f in data["findings"]}
    assert "LUNG_MASS_MEASURED" in codes and "LUNG_MASS_ASSUMED" not in codes


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ct", "WHOLE", "--lung-mass-kg", "1"], "--ct/--lung-mass-kg"),
        (["--ct", "CUT"], "does not hold the whole lungs"),
    ],
)
def test_plan_with_ct_refusals(
    ct_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    paths = {"WHOLE": str(ct_files["whole"]), "CUT": str(ct_files["cut"])}
    argv = ["dose", "mird", "--activity-gbq", "3", "--perfused-volume-ml", "1165", "--lsf", "0.08"]
    assert main([*argv, *[paths.get(a, a) for a in extra]]) == 2
    assert message in capsys.readouterr().err


# --- plan from-images: the CT's lungs, and a lung VOI cut by the SPECT field of view -----


def _write(array: np.ndarray, grid: Grid, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetOrigin(grid.origin_mm)
    image.SetSpacing(grid.spacing_mm)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def study(ct_files: dict[str, Path]) -> dict[str, object]:
    """Labels on the CT grid (liver 1, tumour 2, lung 3) and two MAA SPECTs: one covering
    the CT, one ending at z = 120 mm (the lung apices outside)."""
    folder = ct_files["folder"]
    grid = chest_grid(5.0)
    masks = masks_on(grid)
    nz, ny, nx = grid.shape_zyx
    lung = np.zeros(grid.shape_zyx, bool)
    for k in range(nz):
        lung[k] = lung_truth(grid_points_mm(grid, k))["lung"].reshape(ny, nx)
    labels = np.zeros(grid.shape_zyx, np.uint8)
    labels[masks["liver"] & ~lung] = 1
    labels[masks["tumor"]] = 2
    labels[lung] = 3
    counts = np.choose(labels, [0.0, 10.0, 40.0, 1.0]).astype(np.float32)
    _write(labels, grid, folder / "labels.nii.gz")
    (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor", "3": "lungs"}))
    _write(counts, grid, folder / "maa.nii.gz")
    short = chest_grid(5.0, 0.0, 120.0)
    _write(counts[: short.shape_zyx[0]], short, folder / "maa_short.nii.gz")
    return {
        "labels": folder / "labels.nii.gz",
        "maa": folder / "maa.nii.gz",
        "maa_short": folder / "maa_short.nii.gz",
        # lung voxels above z = 120 mm (slices 25..40) lie outside the short SPECT
        "outside": float(lung[short.shape_zyx[0] :].sum()) / float(lung.sum()),
    }


def test_from_images_uses_the_ct_lung_mass(
    ct_files: dict[str, Path], study: dict[str, object]
) -> None:
    from y90dose.pipeline import plan_from_images

    result = plan_from_images(
        study["maa"],  # type: ignore[arg-type]
        study["labels"],  # type: ignore[arg-type]
        liver_roi="liver",
        tumor_rois=["tumor"],
        lung_roi="lungs",
        normal_dose_gy=40.0,
        ct_path=ct_files["whole"],
    )
    measured = result.measured.lung_mass
    assert measured is not None
    assert measured["used"] is True
    assert result.plan.constants.lung_mass_kg == measured["lung_mass_kg"]
    codes = {f.code for f in result.plan.findings}
    assert "LUNG_MASS_MEASURED" in codes and "LUNG_MASS_ASSUMED" not in codes
    assert "LSF_LUNG_VOI_OUTSIDE_FOV" not in codes
    given = plan_from_images(
        study["maa"],  # type: ignore[arg-type]
        study["labels"],  # type: ignore[arg-type]
        liver_roi="liver",
        tumor_rois=["tumor"],
        lsf=0.05,
        normal_dose_gy=40.0,
        ct_path=ct_files["whole"],
        plan_options={"lung_mass_kg": 0.9},
    )
    assert given.plan.constants.lung_mass_kg == 0.9
    assert any("the plan uses the given lung mass 0.9 kg" in w for w in given.warnings)
    # the measured mass is reported beside the given one, not used
    assert given.measured.lung_mass is not None
    assert given.measured.lung_mass["used"] is False
    assert given.measured.lung_mass["lung_mass_kg"] == measured["lung_mass_kg"]


def test_lung_voi_cut_by_the_spect_flags_the_lsf(study: dict[str, object]) -> None:
    from y90dose.pipeline import plan_from_images

    result = plan_from_images(
        study["maa_short"],  # type: ignore[arg-type]
        study["labels"],  # type: ignore[arg-type]
        liver_roi="liver",
        tumor_rois=["tumor"],
        lung_roi="lungs",
        normal_dose_gy=40.0,
    )
    assert result.measured.lung_voi_outside_fov == pytest.approx(study["outside"], rel=1e-12)
    flagged = [f for f in result.plan.findings if f.code == "LSF_LUNG_VOI_OUTSIDE_FOV"]
    assert len(flagged) == 1 and flagged[0].severity == "warning"
    assert f"{100 * study['outside']:.1f} % of lung VOI 'lungs'" in flagged[0].message  # type: ignore[operator]
