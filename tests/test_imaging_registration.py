"""Registration (issue 12, section 5): known transforms recovered, failures refused.

Test data: the CT-like trunk of :mod:`y90dose.phantoms.ct_anatomy` sampled on a fixed grid, and the
same anatomy sampled through a *known* mapping on a moving grid of another frame of
reference (origin 100, -50, 300 mm away: the centring must find it), so the true
fixed -> moving mapping is known exactly. Target registration error (TRE): mean and max
distance between the known and the recovered mapping of the physical points of the body
voxels of the fixed image. The real CT (STS_001) moved by a known transform, where present.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.errors import InputError, RegistrationError
from y90dose.imaging import Grid, Image, read_image
from y90dose.imaging.registration import (
    RegistrationOptions,
    carry_mask,
    carry_vois,
    register,
    resample_through,
    write_quality_figure,
    write_transform,
)
from y90dose.imaging.vois import EmptyVoiError, Vois
from y90dose.phantoms import ct_anatomy
from y90dose.phantoms.ct_anatomy import ct_image, field_mapping, masks_on, rigid_mapping

STS_CT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sts-petct"
STS_CT = STS_CT / "STS_001" / "CT" / "dicom"

FIXED_GRID = Grid((60, 72, 96), (-190.0, -142.0, -118.0), (4.0, 4.0, 4.0))
FRAME_SHIFT_MM = np.array([100.0, -50.0, 300.0])
"""Moving grid = fixed grid moved by this (another frame of reference)."""
MOVING_GRID = Grid(
    (56, 76, 90),
    tuple(np.add(FIXED_GRID.origin_mm, FRAME_SHIFT_MM) + 2.0),
    (
        4.0,
        3.6,
        4.4,
    ),
)


def _euler(
    rotation_deg: tuple[float, float, float], translation_mm: tuple[float, float, float]
) -> sitk.Euler3DTransform:
    return sitk.Euler3DTransform(
        (0.0, 0.0, 0.0), *(math.radians(a) for a in rotation_deg), translation_mm
    )


def _moving_through(known: sitk.Transform, *, seed: int = 2) -> Image:
    """The anatomy seen through ``known`` on the moving grid: moving(q) = anatomy(A(q - s))."""
    to_anatomy = rigid_mapping(known)
    return ct_image(MOVING_GRID, mapping=lambda q: to_anatomy(q - FRAME_SHIFT_MM), seed=seed)


def _true_fixed_to_moving(known: sitk.Transform) -> ct_anatomy.Mapping:
    inverse = rigid_mapping(known.GetInverse())
    return lambda p: inverse(p) + FRAME_SHIFT_MM


def _body_points(grid: Grid, body: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    return grid.index_to_physical_mm(np.argwhere(body)[:, ::-1].astype(np.float64))


def _tre(
    transform: sitk.Transform, points: npt.NDArray[np.float64], truth: npt.NDArray[np.float64]
) -> tuple[float, float]:
    distance = np.linalg.norm(rigid_mapping(transform)(points) - truth, axis=1)
    return float(distance.mean()), float(distance.max())


def _dice(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.fixture(scope="module")
def fixed() -> Image:
    return ct_image(FIXED_GRID, seed=1)


@pytest.fixture(scope="module")
def body_points() -> npt.NDArray[np.float64]:
    return _body_points(FIXED_GRID, masks_on(FIXED_GRID)["body"])


# --- known rigid transforms --------------------------------------------------------------

KNOWN = {
    "5deg-each-20mm-each": ((5.0, 5.0, 5.0), (20.0, 20.0, 20.0)),
    "mixed-signs": ((-5.0, 3.0, -4.0), (-20.0, 12.0, -18.0)),
    "translation-only": ((0.0, 0.0, 0.0), (-15.0, -20.0, 20.0)),
}


@pytest.mark.parametrize("case", list(KNOWN), ids=list(KNOWN))
def test_known_rigid_transform_is_recovered_within_1_mm_tre(
    case: str, fixed: Image, body_points: npt.NDArray[np.float64]
) -> None:
    known = _euler(*KNOWN[case])
    result = register(fixed, _moving_through(known))
    assert result.succeeded, result.failures
    truth = _true_fixed_to_moving(known)(body_points)
    mean_mm, max_mm = _tre(result.transform, body_points, truth)
    assert mean_mm < 1.0 and max_mm < 1.0, (mean_mm, max_mm)
    # before registration (centring only) the same points were far off
    assert _tre(result.initial_transform, body_points, truth)[0] > 10.0
    assert result.quality.nmi_final > result.quality.nmi_initial
    assert [s.name for s in result.stages] == ["rigid"]
    assert len(result.iterations["rigid"]) == 3 and result.stages[0].converged


def test_transform_maps_a_fixed_point_to_the_moving_point_itk_convention(
    fixed: Image, tmp_path: Path
) -> None:
    """The tumour centre: fixed (-70, -15, -15) mm; in the moving image, by hand:
    moving(q) = anatomy(q - shift + t) with t = (10, 0, -5) mm and shift = (100, -50, 300)
    mm, so the tumour centre is at q = c + shift - t = (20, -65, 290) mm."""
    known = _euler((0.0, 0.0, 0.0), (10.0, 0.0, -5.0))
    result = register(fixed, _moving_through(known))
    centre = ct_anatomy.TUMOR[0]
    assert centre == (-70.0, -15.0, -15.0)
    expected = (20.0, -65.0, 290.0)
    assert np.allclose(result.transform.TransformPoint(centre), expected, atol=0.5)
    written = write_transform(result, tmp_path / "t.tfm")
    read_back = sitk.ReadTransform(str(written))
    assert np.allclose(read_back.TransformPoint(centre), expected, atol=0.5)
    # and the inverse takes the moving point back to the fixed one
    assert np.allclose(read_back.GetInverse().TransformPoint(expected), centre, atol=0.5)


def test_same_inputs_give_the_same_transform() -> None:
    """Seeded random sampling: two runs agree (to 1e-9: multithreaded sums may differ in
    the last bits); another seed samples other voxels."""
    grid = Grid((30, 36, 48), (-188.0, -140.0, -116.0), (8.0, 8.0, 8.0))
    fixed = ct_image(grid, seed=1)
    moving = ct_image(grid, mapping=rigid_mapping(_euler((2.0, 0.0, 3.0), (5.0, 0.0, 0.0))), seed=2)
    options = RegistrationOptions(metric_samples=5000)
    first = register(fixed, moving, options=options)
    second = register(fixed, moving, options=options)
    assert np.allclose(first.transform.GetParameters(), second.transform.GetParameters(), atol=1e-9)
    other_seed = register(fixed, moving, options=RegistrationOptions(metric_samples=5000, seed=7))
    assert not np.allclose(
        other_seed.transform.GetParameters(), first.transform.GetParameters(), atol=1e-6
    )


@pytest.mark.skipif(not STS_CT.is_dir(), reason="shared dataset sts-petct absent")
def test_real_ct_moved_by_a_known_transform_is_recovered() -> None:
    """STS_001 CT (198x202x59, 0.98x0.98x3.27 mm), moved by 4/-5/5 degrees, 15/-10/12 mm."""
    ct = read_image(STS_CT, modality="CT")
    centre = ct.index_to_physical_mm((np.array(ct.shape_zyx[::-1]) - 1) / 2)
    known = sitk.Euler3DTransform(
        tuple(centre.tolist()), *(math.radians(a) for a in (4.0, -5.0, 5.0)), (15.0, -10.0, 12.0)
    )
    image = ct.to_sitk()
    moved = sitk.Resample(image, image, known, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    moving = Image.from_sitk(moved, modality="CT", units="HU")  # moving(q) = ct(A(q))
    body = ct.array > -300.0
    points = _body_points(ct.grid, body)
    truth = rigid_mapping(known.GetInverse())(points)
    result = register(ct, moving)
    assert result.succeeded, result.failures
    mean_mm, max_mm = _tre(result.transform, points, truth)
    assert mean_mm < 1.0 and max_mm < 1.0, (mean_mm, max_mm)


# --- refusals and failures ---------------------------------------------------------------


def _flat(shape: tuple[int, int, int], value: float = 0.0) -> Image:
    return Image(np.full(shape, value, dtype=np.float32), origin_mm=(0, 0, 0), spacing_mm=(4, 4, 4))


def test_a_single_slice_is_refused(fixed: Image) -> None:
    slice_ = Image(fixed.array[30:31], origin_mm=(0, 0, 0), spacing_mm=(4, 4, 4))
    with pytest.raises(InputError) as caught:
        register(fixed, slice_)
    assert caught.value.field == "moving"
    assert "96x72x1" in str(caught.value) and "at least 8 voxels along each axis" in str(
        caught.value
    )


def test_constant_and_non_finite_images_are_refused(fixed: Image) -> None:
    with pytest.raises(InputError, match=r"single value -1000\.0"):
        register(_flat((20, 20, 20), -1000.0), fixed)
    broken = fixed.array.copy()
    broken[0, 0, :3] = np.nan
    with pytest.raises(InputError, match="3 non-finite voxels") as caught:
        register(fixed, fixed.with_array(broken))
    assert caught.value.field == "moving"


def test_an_empty_or_misshapen_fixed_mask_is_refused(fixed: Image) -> None:
    with pytest.raises(InputError, match="at least one nonzero voxel") as caught:
        register(fixed, fixed, fixed_mask=np.zeros(fixed.shape_zyx, bool))
    assert caught.value.field == "fixed_mask"
    with pytest.raises(InputError, match="the fixed image's shape"):
        register(fixed, fixed, fixed_mask=np.ones((2, 2, 2), bool))


def test_a_moving_image_that_does_not_overlap_is_refused(fixed: Image) -> None:
    """A 48 mm cube of moving image, centred on the fixed image's centre, and a fixed mask
    in a corner 150 mm away: no metric sample maps inside the moving image."""
    small = Grid((12, 12, 12), (-22.0, -22.0, -22.0), (4.0, 4.0, 4.0))
    moving = ct_image(small, seed=3)
    corner = np.zeros(fixed.shape_zyx, bool)
    corner[:10, :10, :10] = True
    with pytest.raises(RegistrationError, match="does not overlap"):
        register(fixed, moving, fixed_mask=corner)


def test_unrelated_images_are_reported_failed_and_not_written(fixed: Image, tmp_path: Path) -> None:
    noise = np.random.default_rng(5).normal(0.0, 300.0, size=MOVING_GRID.shape_zyx)
    moving = Image(
        noise.astype(np.float32),
        origin_mm=MOVING_GRID.origin_mm,
        spacing_mm=MOVING_GRID.spacing_mm,
    )
    result = register(fixed, moving, options=RegistrationOptions(max_iterations=40))
    assert not result.succeeded
    assert any("poor similarity" in f for f in result.failures)
    assert result.quality.nmi_final < 1.05
    assert result.to_dict()["status"] == "failed"
    with pytest.raises(RegistrationError, match="failed"):
        write_transform(result, tmp_path / "bad.tfm")
    assert not (tmp_path / "bad.tfm").exists()
    with pytest.raises(RegistrationError):
        carry_mask(np.ones(MOVING_GRID.shape_zyx, bool), MOVING_GRID, result, FIXED_GRID)
    # the figure is written all the same, to show why
    figure = write_quality_figure(result, fixed, moving, tmp_path / "bad.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_iteration_limit_reached_is_a_failure(fixed: Image) -> None:
    known = _euler((3.0, 0.0, 0.0), (10.0, 0.0, 0.0))
    result = register(fixed, _moving_through(known), options=RegistrationOptions(max_iterations=3))
    assert result.iterations["rigid"] == [3, 3, 3]
    assert not result.stages[0].converged
    assert any("did not converge" in f for f in result.failures)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"shrink_factors": (4, 2, 1), "smoothing_sigmas_voxels": (2.0, 1.0)}, "smoothing"),
        ({"shrink_factors": (0,), "smoothing_sigmas_voxels": (0.0,)}, "shrink_factors"),
        ({"min_nmi": 0.5}, "min_nmi"),
        ({"metric_samples": 10}, "metric_samples"),
        ({"learning_rate_mm": -1.0}, "learning_rate_mm"),
    ],
)
def test_options_out_of_range_are_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        RegistrationOptions(**options)  # type: ignore[arg-type]
    assert field in caught.value.field


# --- carrying VOIs and images -------------------------------------------------------------


def test_a_voi_is_carried_through_a_known_transform(fixed: Image) -> None:
    """The liver of the moving image, carried with the true transform, matches the fixed
    liver: Dice > 0.95, and volume within 2 % of the ellipsoid's 4/3 pi 80 x 65 x 55 mm^3
    = 1197.9 mL."""
    known = _euler((5.0, -3.0, 4.0), (12.0, -8.0, 15.0))
    truth = sitk.TranslationTransform(3, tuple(FRAME_SHIFT_MM.tolist()))
    fixed_to_moving = sitk.CompositeTransform([truth, known.GetInverse()])
    liver_moving = masks_on(MOVING_GRID, mapping=lambda q: rigid_mapping(known)(q - FRAME_SHIFT_MM))
    carried = carry_vois(
        Vois(MOVING_GRID, {"liver": liver_moving["liver"]}), fixed_to_moving, FIXED_GRID
    )
    liver_fixed = masks_on(FIXED_GRID)["liver"]
    assert _dice(carried["liver"], liver_fixed) > 0.95
    analytic_ml = 4.0 / 3.0 * math.pi * 80.0 * 65.0 * 55.0 / 1000.0
    assert analytic_ml == pytest.approx(1197.9, abs=0.1)
    assert carried.volume_ml("liver") == pytest.approx(analytic_ml, rel=0.02)
    # the CT itself, resampled through the same transform, matches the fixed CT in the body
    on_fixed = resample_through(
        _moving_through(known), fixed_to_moving, FIXED_GRID, outside_value=-1000.0
    )
    body = masks_on(FIXED_GRID)["body"]
    assert on_fixed.frame_of_reference_uid == FIXED_GRID.frame_of_reference_uid
    assert float(np.median(np.abs(on_fixed.array - fixed.array)[body])) < 15.0


def test_a_voi_carried_outside_the_fixed_image_is_refused() -> None:
    mask = np.zeros(MOVING_GRID.shape_zyx, bool)
    mask[20:25, 20:25, 20:25] = True
    far = sitk.TranslationTransform(3, (5000.0, 0.0, 0.0))
    with pytest.raises(EmptyVoiError, match="'tumor'"):
        carry_mask(mask, MOVING_GRID, far, FIXED_GRID, name="tumor")


# --- deformable ---------------------------------------------------------------------------


def _bump_bspline(grid: Grid) -> sitk.BSplineTransform:
    """A smooth B-spline deformation: control points near the tumour move by up to
    (10, 8, 0) mm, with a Gaussian fall-off of 35 mm."""
    reference = grid.empty_sitk()
    bspline = sitk.BSplineTransformInitializer(reference, [6, 6, 6], order=3)
    coefficients = bspline.GetCoefficientImages()
    origin = np.asarray(coefficients[0].GetOrigin())
    spacing = np.asarray(coefficients[0].GetSpacing())
    size = coefficients[0].GetSize()
    k, j, i = np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")
    points = origin + np.stack([i, j, k], axis=-1) * spacing
    weight = np.exp(-((points - np.asarray(ct_anatomy.TUMOR[0])) ** 2).sum(-1) / (2 * 35.0**2))
    params = np.concatenate([(weight * 10.0).ravel(), (weight * 8.0).ravel(), (weight * 0).ravel()])
    bspline.SetParameters(tuple(params.tolist()))
    return bspline


@pytest.mark.slow
def test_deformable_stage_recovers_a_known_smooth_deformation(fixed: Image) -> None:
    """moving(q) = anatomy(D(q)), D a B-spline bump displacing the tumour by ~13 mm. The
    moving tumour VOI carried to the fixed grid: Dice < 0.8 with the rigid transform,
    > 0.85 and at least 0.1 better with the B-spline stage (0.898-0.900 measured: the
    multithreaded metric differs in the last bits between runs, so no bound sits at 0.9)."""
    deformation = _bump_bspline(FIXED_GRID)
    to_anatomy = field_mapping(deformation, FIXED_GRID)
    moving = ct_image(FIXED_GRID, mapping=to_anatomy, seed=2)
    tumour_moving = masks_on(FIXED_GRID, mapping=to_anatomy)["tumor"]
    tumour_fixed = masks_on(FIXED_GRID)["tumor"]
    rigid = register(fixed, moving)
    # 32 bins: Mattes derivatives cost bins^2 x B-spline parameters per evaluation
    options = RegistrationOptions(deformable=True, histogram_bins=32)
    deformable = register(fixed, moving, options=options)
    assert deformable.succeeded, deformable.failures
    assert deformable.kind == "rigid+bspline"
    dice_rigid = _dice(carry_mask(tumour_moving, FIXED_GRID, rigid, FIXED_GRID), tumour_fixed)
    dice_bspline = _dice(
        carry_mask(tumour_moving, FIXED_GRID, deformable, FIXED_GRID), tumour_fixed
    )
    assert dice_rigid < 0.8, (dice_rigid, dice_bspline)
    assert dice_bspline > 0.85 and dice_bspline - dice_rigid > 0.1, (dice_rigid, dice_bspline)
