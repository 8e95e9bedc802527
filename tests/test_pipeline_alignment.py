"""``compare`` and ``plan from-images`` register by themselves when frames of reference differ
(issue 12, section 5).

Test data (:mod:`y90dose.phantoms.anatomy_studies`): DICOM SPECT/CT studies of the CT-like
trunk; the *planned* (MAA) study is the reference, the *delivered* study and a *diagnostic*
CT are the same anatomy seen through known rigid transforms (rotations of 3 to 5 degrees,
translations of 10 to 20 mm about each axis) in frames of reference 100, -50, 300 mm away,
with other FrameOfReferenceUIDs. So the true planned -> other transform is known exactly
(:func:`~y90dose.phantoms.anatomy_studies.true_transform`), and every result of an automatic
registration can be set against the same computation given the true transform.

Tolerances, stated once: the automatic registration is within 1 mm of target
registration error (mean and max over the body voxels of the planned CT); then each VOI's
delivered mean dose is within 0.5 % and D70 within 1 % of what the true transform gives,
and the from-images TN ratio within 0.5 %, volumes within 1 %, activity within 0.5 %. A
transform 2 mm off the truth breaks the dose bounds (shown below), so they are not loose
enough to pass a misregistration.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from voxel_calls import voxel_run

from y90dose.cli import main as cli_main
from y90dose.cli.compare import compare_text
from y90dose.cli.plan_from_images import from_images_text
from y90dose.errors import GeometryError, ImageError, InputError, RegistrationError
from y90dose.imaging import read_image
from y90dose.imaging.registration import RegistrationOptions
from y90dose.phantoms.anatomy_studies import (
    AnatomyStudy,
    body_points,
    known_rigid,
    tre_mm,
    true_transform,
    write_study,
)
from y90dose.pipeline import compare_runs, plan_from_images
from y90dose.pipeline.alignment import RegistrationReport
from y90dose.pipeline.compare import ComparisonResult

DELIVERED_KNOWN = ((4.0, -5.0, 3.0), (15.0, -20.0, 12.0))
DIAGNOSTIC_KNOWN = ((-3.0, 5.0, -4.0), (-18.0, 10.0, 20.0))
PLANNED_GBQ = 2.0
DELIVERED_GBQ = 3.0


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("alignment")
    planned = write_study(root / "planned", known=None, uid_seed="planned")
    delivered_known = known_rigid(*DELIVERED_KNOWN)
    delivered = write_study(root / "delivered", known=delivered_known, uid_seed="delivered")
    diagnostic_known = known_rigid(*DIAGNOSTIC_KNOWN)
    diagnostic = write_study(
        root / "diagnostic", known=diagnostic_known, uid_seed="diagnostic", rtstruct=True
    )
    runs = {}
    for name, study, activity in (
        ("planned", planned, PLANNED_GBQ),
        ("delivered", delivered, DELIVERED_GBQ),
    ):
        runs[name] = root / f"{name}_run"
        voxel_run(
            study.spect,
            study.labels,
            runs[name],
            ct_path=study.ct,
            activity_gbq=activity,
            method="ldm",
            write_pngs=False,
        )
    transforms = {}
    for name, known in (("delivered", delivered_known), ("diagnostic", diagnostic_known)):
        transforms[name] = root / f"{name}_true.tfm"
        sitk.WriteTransform(true_transform(known), str(transforms[name]))
    return {
        "root": root,
        "planned": planned,
        "delivered": delivered,
        "diagnostic": diagnostic,
        "runs": runs,
        "truth": {"delivered": true_transform(delivered_known)},
        "transforms": transforms,
    }


@pytest.fixture(scope="module")
def automatic(studies: dict[str, object]) -> ComparisonResult:
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    return compare_runs(runs["planned"], runs["delivered"])


@pytest.fixture(scope="module")
def given_truth(studies: dict[str, object]) -> ComparisonResult:
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    return compare_runs(runs["planned"], runs["delivered"], transform_path=transforms["delivered"])


def _rigid(report: RegistrationReport) -> sitk.Euler3DTransform:
    return sitk.Euler3DTransform(
        tuple(report.center_mm_xyz),
        *(math.radians(a) for a in report.rotation_deg_xyz),
        tuple(report.translation_mm_xyz),
    )


def _relative(a: float, b: float) -> float:
    return abs(a / b - 1.0)


# --- compare ---------------------------------------------------------------------------


def test_compare_registers_the_runs_cts_within_1_mm_tre(
    studies: dict[str, object], automatic: ComparisonResult
) -> None:
    """The runs recorded their CTs (metrics.json ``inputs.ct_path``): compare found them,
    registered the delivered CT onto the planned one, and the transform it reports maps
    the planned body within 1 mm of where the truth maps it."""
    report = automatic.automatic_registration
    assert report is not None
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    delivered: AnatomyStudy = studies["delivered"]  # type: ignore[assignment]
    assert (report.fixed_ct, report.moving_ct) == (str(planned.ct), str(delivered.ct))
    assert automatic.registration.startswith("automatic rigid registration of the delivered")
    truth: sitk.Transform = studies["truth"]["delivered"]  # type: ignore[index]
    points = body_points()
    mean_mm, max_mm = tre_mm(_rigid(report), truth, points)
    assert mean_mm < 1.0 and max_mm < 1.0, (mean_mm, max_mm)
    # centring alone left the anatomy tens of millimetres off
    centred = sitk.TranslationTransform(3, (100.0, -50.0, 300.0))
    assert tre_mm(centred, truth, points)[0] > 10.0
    assert automatic.transform_path is None


def test_compare_gives_what_the_true_transform_gives(
    studies: dict[str, object], automatic: ComparisonResult, given_truth: ComparisonResult
) -> None:
    assert (
        set(automatic.vois)
        == set(given_truth.vois)
        == {
            "liver",
            "tumor1",
            "normal_liver",
            "tumors",
        }
    )
    for name, truth in given_truth.vois.items():
        found = automatic.vois[name]
        assert _relative(found.delivered_mean_gy, truth.delivered_mean_gy) < 0.005, name
        assert _relative(found.delivered_d70_gy, truth.delivered_d70_gy) < 0.01, name
        assert found.planned_mean_gy == truth.planned_mean_gy
        assert found.delivered_coverage_percent == 100.0
    # the bounds catch a misregistration: the true transform moved by 2 mm along y
    off = sitk.Euler3DTransform(studies["truth"]["delivered"])  # type: ignore[index]
    off.SetTranslation(tuple(np.add(off.GetTranslation(), (0.0, 2.0, 0.0)).tolist()))
    root: Path = studies["root"]  # type: ignore[assignment]
    sitk.WriteTransform(off, str(root / "off_by_2mm.tfm"))
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    misregistered = compare_runs(
        runs["planned"], runs["delivered"], transform_path=root / "off_by_2mm.tfm"
    )
    tumour, truth_tumour = misregistered.vois["tumor1"], given_truth.vois["tumor1"]
    assert (
        _relative(tumour.delivered_mean_gy, truth_tumour.delivered_mean_gy) > 0.005
        or _relative(tumour.delivered_d70_gy, truth_tumour.delivered_d70_gy) > 0.01
    )


def test_compare_reports_the_registration_quality(automatic: ComparisonResult) -> None:
    report = automatic.automatic_registration
    assert report is not None
    assert report.kind == "rigid"
    assert report.nmi_final >= report.min_nmi == 1.15
    assert report.nmi_final > report.nmi_initial
    assert report.overlap_fraction >= report.min_overlap_fraction == 0.5
    assert report.iterations["rigid"] and report.elapsed_s > 0
    data = automatic.to_dict()
    assert data["automatic_registration"]["nmi_final"] == report.nmi_final
    assert data["automatic_registration"]["rotation_deg_xyz"] == report.rotation_deg_xyz
    text = compare_text(automatic)
    assert f"NMI {report.nmi_initial:.3f} -> {report.nmi_final:.3f} (at least 1.15)" in text
    assert f"y90dose register --fixed {report.fixed_ct} --moving {report.moving_ct}" in text


def test_register_reproduces_compares_transform(
    automatic: ComparisonResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What compare's text tells the user to run finds the same transform (seeded)."""
    report = automatic.automatic_registration
    assert report is not None
    out = tmp_path / "check.tfm"
    argv = ["register", "--fixed", report.fixed_ct, "--moving", report.moving_ct]
    assert cli_main.main([*argv, "--out", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["rigid"]["rotation_deg_xyz"] == pytest.approx(report.rotation_deg_xyz, abs=1e-3)
    assert written["rigid"]["translation_mm_xyz"] == pytest.approx(
        report.translation_mm_xyz, abs=1e-3
    )
    assert (tmp_path / "check.png").is_file()


def test_a_failed_registration_is_refused_without_a_transform_and_accepted_with_one(
    studies: dict[str, object], given_truth: ComparisonResult, tmp_path: Path
) -> None:
    """The delivered run's CT given as uniform noise (no frame of reference: allowed, as a
    NIfTI CT): the registration ends at NMI ~1.0, is refused naming ``transform``; with the
    transform, nothing is registered and the result is the true transform's."""
    noise = sitk.GetImageFromArray(
        np.random.default_rng(3).uniform(-1000.0, 1000.0, (40, 50, 60)).astype(np.float32)
    )
    noise.SetSpacing((5.0, 5.0, 5.0))
    sitk.WriteImage(noise, str(tmp_path / "noise.nii.gz"))
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    with pytest.raises(RegistrationError) as failed:
        compare_runs(
            runs["planned"], runs["delivered"], delivered_ct_path=tmp_path / "noise.nii.gz"
        )
    assert failed.value.field == "transform"
    message = str(failed.value)
    assert message.startswith("transform is needed: the automatic registration of ")
    assert "poor similarity" in message and "its transform is not used" in message
    assert "--" not in message
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    accepted = compare_runs(
        runs["planned"], runs["delivered"], transform_path=transforms["delivered"]
    )
    assert accepted.automatic_registration is None
    assert accepted.vois == given_truth.vois
    assert accepted.registration.startswith("rigid transform ")


def test_ct_refusals_name_their_argument(studies: dict[str, object], tmp_path: Path) -> None:
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    delivered: AnatomyStudy = studies["delivered"]  # type: ignore[assignment]
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    # a CT of the other study's frame
    with pytest.raises(InputError) as wrong_frame:
        compare_runs(runs["planned"], runs["delivered"], planned_ct_path=delivered.ct)
    assert wrong_frame.value.field == "planned_ct"
    assert planned.frame_of_reference_uid in wrong_frame.value.allowed
    # a CT and a transform: the CT would not be used
    with pytest.raises(InputError) as unused:
        compare_runs(
            runs["planned"],
            runs["delivered"],
            transform_path=transforms["delivered"],
            delivered_ct_path=delivered.ct,
        )
    assert unused.value.field == "delivered_ct"
    # a recorded CT that is no longer there
    moved = tmp_path / "delivered_run"
    shutil.copytree(runs["delivered"], moved)
    summary = json.loads((moved / "metrics.json").read_text())
    summary["inputs"]["ct_path"] = str(tmp_path / "gone")
    (moved / "metrics.json").write_text(json.dumps(summary))
    with pytest.raises(InputError) as gone:
        compare_runs(runs["planned"], moved)
    assert gone.value.field == "delivered_ct" and "recorded this path" in gone.value.allowed
    # a run made without a CT
    summary["inputs"]["ct_path"] = None
    (moved / "metrics.json").write_text(json.dumps(summary))
    with pytest.raises(GeometryError) as no_ct:
        compare_runs(runs["planned"], moved)
    assert no_ct.value.field == "transform"
    assert "delivered run was made without a CT" in str(no_ct.value)
    assert "give delivered_ct" in str(no_ct.value)


def test_the_cli_names_flags_and_prints_the_quality_as_json(
    studies: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    delivered: AnatomyStudy = studies["delivered"]  # type: ignore[assignment]
    argv = ["compare", "--planned", str(runs["planned"]), "--delivered", str(runs["delivered"])]
    code = cli_main.main([*argv, "--planned-ct", str(delivered.ct)])
    assert code == 2
    assert "error: --planned-ct: " in capsys.readouterr().err
    assert cli_main.main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["automatic_registration"]["nmi_final"] >= 1.15
    assert data["registration"].startswith("automatic rigid registration")


# --- plan from-images --------------------------------------------------------------------

COMMON = {"liver_roi": "liver", "tumor_rois": ["tumor1"], "normal_dose_gy": 40.0, "lsf": 0.05}


def test_from_images_carries_vois_from_a_diagnostic_ct(studies: dict[str, object]) -> None:
    """VOIs contoured on the diagnostic CT (an RTSTRUCT of its frame) reach the MAA SPECT:
    through the automatic registration, they measure what they measure through the true
    transform; and both are close to the VOIs drawn on the MAA study itself."""
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    diagnostic: AnatomyStudy = studies["diagnostic"]  # type: ignore[assignment]
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    on_diagnostic = {"ct_path": planned.ct, "rois_ct_path": diagnostic.ct, **COMMON}
    assert diagnostic.rtstruct is not None
    automatic = plan_from_images(planned.spect, diagnostic.rtstruct, **on_diagnostic)  # type: ignore[arg-type]
    truth = plan_from_images(
        planned.spect,
        diagnostic.rtstruct,
        transform_path=transforms["diagnostic"],
        **on_diagnostic,  # type: ignore[arg-type]
    )
    report = automatic.automatic_registration
    assert report is not None and truth.automatic_registration is None
    assert report.nmi_final >= 1.15 and report.fixed_ct == str(planned.ct)
    truth_transform = true_transform(known_rigid(*DIAGNOSTIC_KNOWN))
    mean_mm, max_mm = tre_mm(_rigid(report), truth_transform, body_points())
    assert mean_mm < 1.0 and max_mm < 1.0, (mean_mm, max_mm)
    tn, tn_truth = automatic.measured.tn_ratios["tumor1"], truth.measured.tn_ratios["tumor1"]
    assert _relative(tn, tn_truth) < 0.005
    for name in ("tumor1", "normal_liver", "liver"):
        assert (
            _relative(automatic.measured.vois[name].volume_ml, truth.measured.vois[name].volume_ml)
            < 0.01
        ), name
    assert _relative(automatic.plan.activity_gbq, truth.plan.activity_gbq) < 0.005
    assert "automatic rigid registration" in automatic.registration
    assert truth.transform_path == str(transforms["diagnostic"])
    text = from_images_text(automatic)
    assert f"NMI {report.nmi_initial:.3f} -> {report.nmi_final:.3f}" in text
    assert automatic.to_dict()["automatic_registration"]["nmi_final"] == report.nmi_final
    # the VOIs drawn on the MAA study itself (a label map on the SPECT grid): the tumour
    # volume is the 18 mm sphere's 24.43 mL within the grids' sampling
    direct = plan_from_images(planned.spect, planned.labels, ct_path=planned.ct, **COMMON)  # type: ignore[arg-type]
    sphere_ml = 4.0 / 3.0 * math.pi * 18.0**3 / 1000.0
    assert sphere_ml == pytest.approx(24.43, abs=0.01)
    assert automatic.measured.vois["tumor1"].volume_ml == pytest.approx(sphere_ml, rel=0.05)
    assert _relative(tn, direct.measured.tn_ratios["tumor1"]) < 0.02


def test_from_images_refusals(studies: dict[str, object], tmp_path: Path) -> None:
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    diagnostic: AnatomyStudy = studies["diagnostic"]  # type: ignore[assignment]
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    rtstruct = diagnostic.rtstruct
    assert rtstruct is not None
    # VOIs of another frame without the image they were drawn on
    with pytest.raises(GeometryError, match="give rois_ct, that image") as other_frame:
        plan_from_images(planned.spect, rtstruct, ct_path=planned.ct, **COMMON)  # type: ignore[arg-type]
    assert other_frame.value.field == "vois"
    # to register, the MAA CT is needed
    with pytest.raises(InputError) as no_ct:
        plan_from_images(planned.spect, rtstruct, rois_ct_path=diagnostic.ct, **COMMON)  # type: ignore[arg-type]
    assert no_ct.value.field == "ct"
    # a transform needs the image it maps to
    with pytest.raises(InputError) as no_rois_ct:
        plan_from_images(
            planned.spect,
            rtstruct,
            transform_path=transforms["diagnostic"],
            **COMMON,  # type: ignore[arg-type]
        )
    assert no_rois_ct.value.field == "rois_ct"
    # a transform that carries the liver past the SPECT's edge (100 mm along x)
    far = sitk.Euler3DTransform(true_transform(known_rigid(*DIAGNOSTIC_KNOWN)))
    far.SetTranslation(tuple(np.add(far.GetTranslation(), (100.0, 0.0, 0.0)).tolist()))
    sitk.WriteTransform(far, str(tmp_path / "far.tfm"))
    with pytest.raises(ImageError, match="reaches the edge") as cut:
        plan_from_images(
            planned.spect,
            rtstruct,
            rois_ct_path=diagnostic.ct,
            transform_path=tmp_path / "far.tfm",
            **COMMON,  # type: ignore[arg-type]
        )
    assert cut.value.field == "vois"


def test_from_images_failed_registration_refused_then_accepted_with_a_transform(
    studies: dict[str, object], tmp_path: Path
) -> None:
    """The VOIs' image given as noise (a label map of the diagnostic study's SPECT grid,
    whose CT is replaced by noise): refused naming ``transform``; with the true transform
    the VOIs are carried and the TN ratio is the one measured through the truth."""
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    unrelated = write_study(
        tmp_path / "unrelated",
        known=known_rigid(*DIAGNOSTIC_KNOWN),
        uid_seed="unrelated",
        unrelated_ct=True,
    )
    kwargs = {"ct_path": planned.ct, "rois_ct_path": unrelated.ct, **COMMON}
    with pytest.raises(RegistrationError) as failed:
        plan_from_images(planned.spect, unrelated.labels, **kwargs)  # type: ignore[arg-type]
    assert failed.value.field == "transform" and "poor similarity" in str(failed.value)
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    accepted = plan_from_images(
        planned.spect,
        unrelated.labels,
        transform_path=transforms["diagnostic"],
        **kwargs,  # type: ignore[arg-type]
    )
    assert accepted.automatic_registration is None
    assert accepted.measured.tn_ratios["tumor1"] > 2.0


def test_from_images_cli_maps_fields_to_flags(
    studies: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    diagnostic: AnatomyStudy = studies["diagnostic"]  # type: ignore[assignment]
    argv = [
        "plan", "from-images", "--spect", str(planned.spect), "--rois", str(diagnostic.rtstruct),
        "--rois-ct", str(diagnostic.ct), "--liver-roi", "liver", "--tumor-roi", "tumor1",
        "--normal-dose-gy", "40", "--lsf", "0.05",
    ]  # fmt: skip
    assert cli_main.main(argv) == 2
    err = capsys.readouterr().err
    assert "error: --ct: missing is not allowed" in err and "(--rois-ct)" in err
    assert cli_main.main([*argv, "--ct", str(planned.ct), "--transform", "nope.tfm"]) == 2
    assert "error: --transform: 'nope.tfm' is not allowed" in capsys.readouterr().err
    labels_only = [
        "plan", "from-images", "--spect", str(planned.spect), "--rois", str(planned.labels),
        "--liver-roi", "liver", "--tumor-roi", "tumor1", "--normal-dose-gy", "40",
        "--lsf", "0.05", "--deformable",
    ]  # fmt: skip
    assert cli_main.main(labels_only) == 2
    assert "error: --rois-ct: missing is not allowed" in capsys.readouterr().err


def test_options_are_refused_when_nothing_would_use_them(studies: dict[str, object]) -> None:
    runs: dict[str, Path] = studies["runs"]  # type: ignore[assignment]
    with pytest.raises(InputError) as same_frame:
        compare_runs(
            runs["planned"],
            runs["planned"],
            registration_options=RegistrationOptions(max_iterations=10),
        )
    assert same_frame.value.field == "registration_options"


def test_from_images_takes_a_rigid_plus_bspline_transform_file(
    studies: dict[str, object], tmp_path: Path
) -> None:
    """The composite transform ``y90dose register --deformable`` writes (rigid, then
    B-spline): with zero B-spline coefficients it maps as the rigid part alone, so the VOIs
    measure exactly what the rigid transform file gives."""
    planned: AnatomyStudy = studies["planned"]  # type: ignore[assignment]
    diagnostic: AnatomyStudy = studies["diagnostic"]  # type: ignore[assignment]
    transforms: dict[str, Path] = studies["transforms"]  # type: ignore[assignment]
    rigid = true_transform(known_rigid(*DIAGNOSTIC_KNOWN))
    reference = read_image(planned.ct).grid.empty_sitk()
    bspline = sitk.BSplineTransformInitializer(reference, [4, 4, 4], order=3)
    composite = sitk.CompositeTransform([rigid, bspline])
    sitk.WriteTransform(composite, str(tmp_path / "deformable.tfm"))
    assert diagnostic.rtstruct is not None
    kwargs = {"ct_path": planned.ct, "rois_ct_path": diagnostic.ct, **COMMON}
    through_composite = plan_from_images(
        planned.spect,
        diagnostic.rtstruct,
        transform_path=tmp_path / "deformable.tfm",
        **kwargs,  # type: ignore[arg-type]
    )
    through_rigid = plan_from_images(
        planned.spect,
        diagnostic.rtstruct,
        transform_path=transforms["diagnostic"],
        **kwargs,  # type: ignore[arg-type]
    )
    assert through_composite.measured == through_rigid.measured
