"""End-to-end voxel dosimetry on phantoms with analytic answers.

- Uniform sphere, counts scaled to A x (1 - LSF) x (1 - R): the LDM dose is C x A / m
  (physics.md 6), with m the voxelised sphere's mass; it differs from the analytic
  sphere's C x A / m by exactly the voxelisation error of the volume.
- DVK (kernel normalised to deposit C per GBq) equals LDM in the sphere's interior
  (farther from the edge than the kernel reaches) within 1 %, and deposits C x A in the
  grid when the sphere is far from the grid's faces.
- A quantitative (Bq/mL) DICOM study with a CT: RT Dose round trip with pydicom, the CT's
  frame of reference and study referenced, dose in the normal liver C x c / rho(HU).
"""

from __future__ import annotations

import doctest
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from voxel_calls import voxel, voxel_run

import y90dose.pipeline.ct_density
import y90dose.pipeline.outputs
import y90dose.pipeline.progress
from y90dose.constants import ENERGY_EANM_J_PER_GBQ, ENERGY_GLASS_J_PER_GBQ, LIVER_DENSITY_G_ML
from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.synthetic import make_sphere_study
from y90dose.pipeline import find_study_inputs
from y90dose.pipeline.ct_density import density_on_grid
from y90dose.pipeline.voxel_run import decay_to_implant
from y90dose.voxel.density import DEFAULT_HU_DENSITY_CURVE, hu_to_density
from y90dose_service.voxel_jobs import run_voxel_job as run_study_job

SPACING_MM = 4.8  # a Lanconelli 2012 size: the DVK uses the tabulated kernel
SHAPE = 40
RADIUS_MM = 60.0
ACTIVITY_GBQ = 3.1
LSF = 0.06
RESIDUAL = 0.02


def _write(array: np.ndarray, path: Path, spacing_mm: float = SPACING_MM) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((spacing_mm,) * 3)
    image.SetOrigin((-(SHAPE - 1) * spacing_mm / 2,) * 3)
    sitk.WriteImage(image, str(path))
    return path


def _sphere_mask(radius_mm: float = RADIUS_MM, spacing_mm: float = SPACING_MM) -> np.ndarray:
    axis = (np.arange(SHAPE) - (SHAPE - 1) / 2) * spacing_mm
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.asarray(x**2 + y**2 + z**2 <= radius_mm**2)


@pytest.fixture(scope="module")
def sphere_phantom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sphere")
    mask = _sphere_mask()
    counts = np.where(mask, 250.0, 0.0).astype(np.float32)
    spect = _write(counts, folder / "spect.nii.gz")
    labels = _write(mask.astype(np.uint8), folder / "labels.nii.gz")
    (folder / "labels.json").write_text(json.dumps({"1": "liver"}))
    return {"folder": folder, "spect": spect, "labels": labels}


def _run(phantom: dict[str, Path], method: str, out: Path) -> dict:
    result = voxel_run(
        phantom["spect"],
        phantom["labels"],
        out,
        activity_gbq=ACTIVITY_GBQ,
        lsf=LSF,
        residual=RESIDUAL,
        method=method,
        product="glass",
        write_pngs=False,
    )
    return result.to_dict()


def test_ldm_sphere_is_c_times_a_over_m(sphere_phantom: dict[str, Path], tmp_path: Path) -> None:
    summary = _run(sphere_phantom, "ldm", tmp_path / "ldm")
    c = ENERGY_GLASS_J_PER_GBQ.value
    in_liver_gbq = ACTIVITY_GBQ * (1 - LSF) * (1 - RESIDUAL)
    voxel_ml = SPACING_MM**3 / 1000.0
    voxelised_ml = int(_sphere_mask().sum()) * voxel_ml
    analytic_ml = 4.0 / 3.0 * math.pi * RADIUS_MM**3 / 1000.0
    density = LIVER_DENSITY_G_ML.value
    expected_voxelised = c * in_liver_gbq / (voxelised_ml * density / 1000.0)
    expected_analytic = c * in_liver_gbq / (analytic_ml * density / 1000.0)
    liver = summary["metrics"]["liver"]
    assert liver["volume_ml"] == pytest.approx(voxelised_ml, rel=1e-6)  # NIfTI float32 spacing
    assert liver["mean_gy"] == pytest.approx(expected_voxelised, rel=1e-6)
    # uniform: every voxel has the mean dose, so D70 = min = max
    assert liver["d70_gy"] == pytest.approx(expected_voxelised, rel=1e-6)
    assert liver["min_gy"] == pytest.approx(liver["max_gy"], rel=1e-6)
    voxelisation_error = abs(voxelised_ml - analytic_ml) / voxelised_ml
    assert voxelisation_error < 0.02
    assert abs(liver["mean_gy"] - expected_analytic) / expected_analytic == pytest.approx(
        voxelisation_error, rel=1e-4
    )
    assert summary["activity"]["activity_in_mask_gbq"] == pytest.approx(in_liver_gbq, rel=1e-9)
    assert summary["energy_j_per_gbq"] == c
    # local deposition keeps every joule where it is released: E_liver = C x A_liver, and
    # with one density the energy/mass mean is the voxel mean
    assert liver["energy_j"] == pytest.approx(c * in_liver_gbq, rel=1e-6)
    assert liver["mean_absorbed_gy"] == pytest.approx(liver["mean_gy"], rel=1e-9)


def test_dvk_interior_equals_ldm_and_conserves_energy(
    sphere_phantom: dict[str, Path], tmp_path: Path
) -> None:
    ldm = _run(sphere_phantom, "ldm", tmp_path / "ldm")
    dvk = _run(sphere_phantom, "dvk", tmp_path / "dvk")
    assert dvk["kernel"]["source"] == "lanconelli"
    ldm_map = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ldm" / "dose_gy.nii.gz")))
    dvk_map = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "dvk" / "dose_gy.nii.gz")))
    # interior: farther from the edge than the 6x6x6 kernel's reach (5 voxels = 24 mm)
    interior = _sphere_mask(RADIUS_MM - 6 * SPACING_MM)
    assert interior.sum() > 100
    ratio = dvk_map[interior] / ldm_map[interior]
    assert np.max(np.abs(ratio - 1.0)) < 0.01
    # the sphere's edge is 36 mm from the grid's faces: nothing escapes
    released = ENERGY_GLASS_J_PER_GBQ.value * ACTIVITY_GBQ * (1 - LSF) * (1 - RESIDUAL)
    balance = dvk["energy_balance"]
    assert balance["energy_released_j"] == pytest.approx(released, rel=1e-9)
    assert balance["energy_deposited_in_grid_j"] == pytest.approx(released, rel=1e-5)
    # the blurred edge lowers the mean but not the total: mean x mass is conserved inside
    # the grid; the liver's mean DVK dose is below LDM (energy leaves the sphere)
    assert dvk["metrics"]["liver"]["mean_gy"] < ldm["metrics"]["liver"]["mean_gy"]


def test_metrics_json_keys_and_files(sphere_phantom: dict[str, Path], tmp_path: Path) -> None:
    summary = _run(sphere_phantom, "ldm", tmp_path / "out")
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk["metrics"] == summary["metrics"]
    liver = on_disk["metrics"]["liver"]
    for key in (
        "volume_ml",
        "mass_kg",
        "mean_gy",
        "min_gy",
        "max_gy",
        "d2_gy",
        "d50_gy",
        "d70_gy",
        "d90_gy",
        "d95_gy",
        "d98_gy",
        "v100_percent",
        "v120_percent",
        "v150_percent",
        "v200_percent",
        "v205_percent",
        "v400_percent",
        "bed_of_mean_gy",
        "eqd2_of_mean_gy",
        "mean_bed_gy",
        "mean_eqd2_gy",
        "eud_gy",
    ):
        assert key in liver, key
    assert liver["mass_kg"] == pytest.approx(liver["volume_ml"] * 1.03 / 1000.0, rel=1e-9)
    for key in ("files", "method", "kernel", "activity", "energy_j_per_gbq", "lung_statement"):
        assert key in on_disk
    assert "lung" in on_disk["lung_statement"]
    for name in on_disk["files"].values():
        assert (tmp_path / "out" / name).is_file(), name
    dvh = json.loads((tmp_path / "out" / "dvh.json").read_text())["liver"]
    assert dvh["volume_percent"][0] == 100.0 and dvh["volume_percent"][-1] == 0.0
    assert (tmp_path / "out" / "dvh.csv").read_text().startswith("voi,weighting,dose_gy")


def test_quantitative_dicom_study_with_ct(tmp_path: Path) -> None:
    study = make_sphere_study(tmp_path / "study")
    out = tmp_path / "out"
    result = voxel_run(
        study.spect_folder, study.rtstruct_path, out, ct_path=study.ct_folder, method="ldm"
    )
    summary = result.to_dict()
    assert summary["activity"]["method"] == "concentration_bq_ml"
    assert summary["activity"]["quantitative_image"] is True
    # normal liver: C x c / rho, rho from the calibration curve at the liver's 60 HU
    rho = float(np.interp(60.0, DEFAULT_HU_DENSITY_CURVE.hu, DEFAULT_HU_DENSITY_CURVE.density_g_ml))
    c_j_per_gbq = summary["energy_j_per_gbq"]
    # the PT series is at acquisition (12:00, DecayCorrection NONE), administration 10:00:
    # activity at implantation = 2^(2 h / 64.1 h) x the image's
    decay = summary["activity"]["decay_correction"]
    assert decay["elapsed_h"] == pytest.approx(2.0)
    to_implant = 2.0 ** (2.0 / 64.1)
    assert decay["factor"] == pytest.approx(to_implant, rel=1e-12)
    expected = to_implant * c_j_per_gbq * study.normal_liver_bq_per_ml * 1e-9 / (rho / 1000.0)
    assert summary["metrics"]["normal_liver"]["d70_gy"] == pytest.approx(expected, rel=1e-5)
    assert summary["rtdose_reference"] == "CT"

    dose_nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "dose_gy.nii.gz")))
    ds = pydicom.dcmread(out / "rtdose.dcm")
    assert ds.Modality == "RTDOSE" and ds.DoseUnits == "GY"
    assert ds.FrameOfReferenceUID == study.study.frame_of_reference_uid
    assert ds.StudyInstanceUID == study.study.study_instance_uid
    stored = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    assert stored.shape == dose_nifti.shape
    assert (
        np.max(np.abs(stored - dose_nifti)) <= float(ds.DoseGridScaling) + 1e-6 * dose_nifti.max()
    )
    np.testing.assert_allclose(
        [float(v) for v in ds.ImagePositionPatient], study.spect.origin_mm, atol=1e-3
    )
    np.testing.assert_allclose(
        [float(v) for v in ds.PixelSpacing], study.spect.spacing_mm[:2], atol=1e-6
    )
    on_ct = pydicom.dcmread(out / "rtdose_on_ct.dcm")
    assert (int(on_ct.Rows), int(on_ct.Columns), int(on_ct.NumberOfFrames)) == (
        study.ct.shape_zyx[1],
        study.ct.shape_zyx[2],
        study.ct.shape_zyx[0],
    )
    assert (out / "slices_tumor1.png").stat().st_size > 1000
    assert (out / "dvh.png").stat().st_size > 1000


def test_predictive_dose_from_a_bq_per_ml_maa_image_uses_the_planned_activity(
    tmp_path: Path,
) -> None:
    # A quantitative MAA SPECT is in Tc-99m Bq/mL; a predictive run must distribute the
    # planned Y-90 activity by it. Energy conservation (LDM, every decay's energy stays in
    # its voxel): sum over the liver of D x m = C x A_planned x (1 - LSF), independent of
    # the image's absolute scale (the study holds about 0.03 GBq, the plan 3 GBq).
    study = make_sphere_study(tmp_path / "study", write_nm=False)
    planned, lsf = 3.0, 0.05
    computation = voxel(
        study.spect_folder,
        study.rtstruct_path,
        ct_path=study.ct_folder,
        method="ldm",
        predictive=True,
        activity_gbq=planned,
        lsf=lsf,
    )
    assert computation.activity.method.value == "predictive_maa"
    assert computation.decay_correction is None  # no Y-90 decay applied to a Tc-99m image
    liver = computation.vois["liver"]
    voxel_kg = np.prod(computation.spacing_zyx_mm) / 1e6
    mass_kg = np.asarray(computation.density_g_ml)[liver] * voxel_kg
    energy_j = float((computation.dose_image.array[liver] * mass_kg).sum())
    c = computation.energy_j_per_gbq
    assert energy_j == pytest.approx(c * planned * (1 - lsf), rel=1e-4)
    assert any("relative counts" in w for w in computation.warnings)


def test_counts_need_an_activity_and_known_normalisation(
    sphere_phantom: dict[str, Path],
) -> None:
    with pytest.raises(InputError) as missing:
        voxel(sphere_phantom["spect"], sphere_phantom["labels"], method="ldm")
    assert missing.value.field == "activity_gbq"
    with pytest.raises(InputError) as negative:
        voxel(sphere_phantom["spect"], sphere_phantom["labels"], activity_gbq=-1.0, method="ldm")
    assert negative.value.field == "activity_gbq"
    with pytest.raises(InputError) as unknown:
        voxel(
            sphere_phantom["spect"],
            sphere_phantom["labels"],
            activity_gbq=1.0,
            normalize_to="perfused",
            method="ldm",
        )
    assert unknown.value.field == "normalize_to"
    with pytest.raises(InputError) as percent:
        voxel(sphere_phantom["spect"], sphere_phantom["labels"], activity_gbq=1.0, lsf=6.0)
    assert percent.value.field == "lsf"


def test_label_map_liver_is_extended_by_tumours(tmp_path: Path) -> None:
    """Label maps hold tumours apart from the liver: the whole liver is their union."""
    liver = _sphere_mask()
    tumour = _sphere_mask(20.0)
    labels = np.where(liver, 1, 0).astype(np.uint8)
    labels[tumour] = 2
    counts = np.where(liver, 10.0, 0.0).astype(np.float32)
    counts[tumour] = 40.0
    spect = _write(counts, tmp_path / "spect.nii.gz")
    label_path = _write(labels, tmp_path / "labels.nii.gz")
    computation = voxel(
        spect,
        label_path,
        roi_names='{"1": "liver", "2": "tumor1"}',
        activity_gbq=2.0,
        method="ldm",
    )
    assert computation.vois.volume_ml("liver") == pytest.approx(
        liver.sum() * SPACING_MM**3 / 1000.0
    )
    assert computation.activity.activity_in_mask_gbq == pytest.approx(2.0)
    # concentration ratio 4 -> dose ratio 4 (LDM, one density)
    ratio = computation.metrics["tumor1"].mean_gy / computation.metrics["normal_liver"].mean_gy
    assert ratio == pytest.approx(4.0, rel=1e-6)
    assert any("extended" in w for w in computation.warnings)


def test_empty_and_outside_vois_are_refused(tmp_path: Path) -> None:
    mask = _sphere_mask()
    spect = _write(np.where(mask, 1.0, 0.0).astype(np.float32), tmp_path / "spect.nii.gz")
    labels = _write(mask.astype(np.uint8), tmp_path / "labels.nii.gz")
    with pytest.raises(ImageError, match="label 2"):
        voxel(spect, labels, roi_names={"1": "liver", "2": "tumor"}, activity_gbq=1.0)
    # a label map on a grid twice as large: a VOI in its corner lies outside the SPECT
    big = np.zeros((SHAPE,) * 3, dtype=np.uint8)
    big[1:4, 1:4, 1:4] = 1
    outside = _write(big, tmp_path / "outside.nii.gz", spacing_mm=2 * SPACING_MM)
    with pytest.raises(ImageError, match="outside"):
        voxel(spect, outside, roi_names={"1": "liver"}, activity_gbq=1.0)


@pytest.mark.parametrize(
    "module",
    [y90dose.pipeline.ct_density, y90dose.pipeline.outputs, y90dose.pipeline.progress],
)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def _brute_force_density(ct: Image, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Mean CT density per target voxel by assigning every CT voxel centre (slow, exact)."""
    rho = hu_to_density(ct.array).density_g_ml.astype(np.float64)
    k, j, i = np.meshgrid(*[np.arange(n) for n in ct.shape_zyx], indexing="ij")
    ijk = np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(np.float64)
    index = np.floor(grid.physical_mm_to_index(ct.index_to_physical_mm(ijk)) + 0.5).astype(int)
    inside = np.all((index >= 0) & (index < np.asarray(grid.shape_zyx[::-1])), axis=1)
    sums = np.zeros(grid.shape_zyx)
    counts = np.zeros(grid.shape_zyx)
    where = (index[inside, 2], index[inside, 1], index[inside, 0])
    np.add.at(sums, where, rho.ravel()[inside])
    np.add.at(counts, where, 1.0)
    return sums, counts


@pytest.mark.parametrize(
    "direction",
    [
        np.eye(3),
        np.diag([1.0, -1.0, -1.0]),  # flipped axes: still the separable path
        np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]),  # oblique: general
    ],
)
def test_ct_density_is_the_mean_over_ct_voxels(direction: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    spacing = np.array([0.977, 0.977, 2.5])
    half_extent = spacing * (np.array([23, 25, 14]) - 1) / 2  # (x, y, z)
    origin = -(direction @ half_extent) + np.array([0.3, -0.2, 0.4])  # centred near 0
    ct = Image(
        rng.uniform(-1000, 1500, (14, 25, 23)).astype(np.float32),
        tuple(origin.tolist()),
        tuple(spacing.tolist()),
        direction=direction,
    )
    grid = Grid((7, 8, 9), (-19.0, -15.0, -16.0), (4.8, 4.1, 5.0))
    result = density_on_grid(ct, grid)
    sums, counts = _brute_force_density(ct, grid)
    filled = counts > 0
    assert filled.sum() > 50
    np.testing.assert_allclose(
        result.density_g_ml[filled], sums[filled] / counts[filled], rtol=1e-6
    )
    assert result.averaged_voxels == int(filled.sum())
    assert np.all(np.isfinite(result.density_g_ml))


def test_service_runner_on_study_folders(tmp_path: Path, sphere_phantom: dict[str, Path]) -> None:
    """``run_study_job`` follows the service's runner protocol on DICOM and NIfTI studies."""
    study = make_sphere_study(tmp_path / "dicom_study", write_nm=False)
    params = {
        "activity_gbq": 3.0,
        "lsf": 0.05,
        "residual": 0.0,
        "product": "glass",
        "method": "kernel",
        "options": {"predictive": False},
    }
    seen: list[float] = []
    result = run_study_job(
        tmp_path / "dicom_study", params, tmp_path / "job1", lambda f, s: seen.append(f)
    )
    json.dumps(result)  # plain JSON for the job's database row
    assert result["method"] == "dvk"
    assert result["inputs"]["ct_path"] is not None  # the CT series was found
    assert result["energy_j_per_gbq"] == ENERGY_GLASS_J_PER_GBQ.value
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert set(result["metrics"]) >= {"liver", "tumor1", "normal_liver"}
    assert study.folder.is_dir()

    nifti = tmp_path / "nifti_study"
    nifti.mkdir()
    shutil.copy(sphere_phantom["spect"], nifti / "spect.nii.gz")
    shutil.copy(sphere_phantom["labels"], nifti / "labels.nii.gz")
    (nifti / "names.json").write_text(json.dumps({"1": "liver"}))
    result = run_study_job(nifti, {**params, "method": "ldm"}, tmp_path / "job2", lambda f, s: None)
    in_liver = 3.0 * 0.95
    assert result["activity"]["activity_in_mask_gbq"] == pytest.approx(in_liver, rel=1e-9)


def test_service_runner_refuses_server_paths(tmp_path: Path) -> None:
    params = {"activity_gbq": 1.0, "lsf": 0.0, "method": "ldm"}
    for name, value in (("ct_path", "/etc"), ("hu_density_curve", "/etc/passwd"), ("bogus", 1)):
        with pytest.raises(InputError) as refused:  # as fields, and as a stored row's options
            run_study_job(tmp_path, {**params, name: value}, tmp_path / "o", print)
        assert refused.value.field == name
        with pytest.raises(InputError) as refused:
            run_study_job(tmp_path, {**params, "options": {name: value}}, tmp_path / "o", print)
        assert refused.value.field == name
    with pytest.raises(InputError) as refused:
        run_study_job(tmp_path, {**params, "roi_names": "/etc/x.json"}, tmp_path / "o", print)
    assert refused.value.field == "roi_names"


def test_find_study_inputs(tmp_path: Path, sphere_phantom: dict[str, Path]) -> None:
    study = make_sphere_study(tmp_path / "dicom", write_nm=False)
    found = find_study_inputs(study.folder)
    assert found.spect == found.ct == found.vois == study.folder
    # DICOM images with a NIfTI label map instead of an RTSTRUCT
    study.rtstruct_path.unlink()
    shutil.copy(sphere_phantom["labels"], study.folder / "voi_labels.nii.gz")
    assert find_study_inputs(study.folder).vois == study.folder / "voi_labels.nii.gz"
    # a manifest may not point outside the study
    nifti = tmp_path / "nifti"
    nifti.mkdir()
    shutil.copy(sphere_phantom["spect"], nifti / "image.nii.gz")
    (nifti / "study.json").write_text(json.dumps({"image": "image.nii.gz", "labels": "../x"}))
    with pytest.raises(InputError) as escaped:
        find_study_inputs(nifti)
    assert escaped.value.field == "study"


def _pt_with_times(acquisition_date: str, series_time: str | None = None) -> Image:
    metadata = {
        "DecayCorrection": "START",
        "radiopharmaceutical": {"RadiopharmaceuticalStartDateTime": "20260301100000"},
        "AcquisitionDate": acquisition_date,
        "AcquisitionTime": "120000",
    }
    if series_time is not None:
        metadata |= {"SeriesDate": acquisition_date, "SeriesTime": series_time}
    return Image(np.ones((2, 2, 2)), (0, 0, 0), (4.0, 4.0, 4.0), modality="PT", metadata=metadata)


def test_decay_to_implant_grows_by_two_to_the_elapsed_half_lives() -> None:
    factor, info = decay_to_implant(_pt_with_times("20260303"))  # 50 h after administration
    assert info["elapsed_h"] == pytest.approx(50.0)
    assert factor == pytest.approx(2.0 ** (50.0 / 64.1), rel=1e-12)


def test_decay_to_implant_without_decay_information_warns() -> None:
    # A Bq/mL image with no DecayCorrection (a NIfTI, a quantitative NM SPECT) is used as it
    # is; if it holds the activity at a scan 24 h after implantation, A0 = A x 2^(24/64.1)
    # and the dose is low by 1 - 2^(-24/64.1) = 22.86 %: the run must say so as a warning.
    factor, info = decay_to_implant(Image(np.ones((2, 2, 2)), (0, 0, 0), (4.0, 4.0, 4.0)))
    assert factor == 1.0
    assert info["warning"] is True
    assert "23%" in info["description"]


def test_decay_to_implant_refuses_a_scan_dated_years_later() -> None:
    # a scanner clock or a typed year ten years off: 2^(87650 h / 64.1 h) is no factor
    with pytest.raises(ImageError, match="check the DICOM dates"):
        decay_to_implant(_pt_with_times("20360301"))


def test_pet_start_decay_is_referenced_to_the_series_time() -> None:
    # DICOM PET: SeriesTime (11:00) is the decay reference, not the AcquisitionTime (12:00)
    factor, info = decay_to_implant(_pt_with_times("20260303", series_time="110000"))
    assert info["elapsed_h"] == pytest.approx(49.0)
    assert factor == pytest.approx(2.0 ** (49.0 / 64.1), rel=1e-12)


def test_slice_overlay_leaves_out_air_only() -> None:
    """LDM puts ~1000 Gy on activity spilled into air: the figures must not draw it."""
    from y90dose.pipeline.outputs import display_dose_gy

    dose = np.full((2, 3, 4), 150.0)
    density = np.full(dose.shape, LIVER_DENSITY_G_ML.value)
    density[0, 0, :] = 0.0012  # air, with dose
    density[1, 2, 3] = 0.049  # just below the air limit
    density[1, 0, 0] = 0.26  # inflated lung: drawn
    dose[0, 0, :] = 1200.0
    shown, left_out = display_dose_gy(dose, density)
    assert left_out == 5
    assert np.all(shown[0, 0, :] == 0.0) and shown[1, 2, 3] == 0.0
    tissue = density >= 0.05
    assert np.array_equal(shown[tissue], dose[tissue])
    assert dose[0, 0, 0] == 1200.0  # the dose itself is untouched
    # without a CT (uniform liver density) nothing is left out
    shown, left_out = display_dose_gy(dose, LIVER_DENSITY_G_ML.value)
    assert left_out == 0 and np.array_equal(shown, dose)


def _ball(centre_mm: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    axis = (np.arange(SHAPE) - (SHAPE - 1) / 2) * SPACING_MM
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    cz, cy, cx = centre_mm
    return np.asarray((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius_mm**2)


@pytest.fixture(scope="module")
def two_tumour_labels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A label map (liver 1, tumor1 2, tumor2 3: tumours apart from the liver label) and a
    counts image: 10 counts per liver voxel, 40 per tumour voxel, nothing elsewhere."""
    folder = tmp_path_factory.mktemp("two_tumours")
    liver = _sphere_mask()
    t1 = _ball((0.0, 0.0, 30.0), 15.0)
    t2 = _ball((0.0, 0.0, -30.0), 15.0)
    labels = np.where(liver, 1, 0).astype(np.uint8)
    labels[t1], labels[t2] = 2, 3
    counts = np.where(liver, 10.0, 0.0).astype(np.float32)
    counts[t1 | t2] = 40.0
    return {
        "spect": _write(counts, folder / "spect.nii.gz"),
        "labels": _write(labels, folder / "labels.nii.gz"),
        "names": '{"1": "liver", "2": "tumor1", "3": "tumor2"}',
        "n_t1": int(t1.sum()),
        "n_t2": int(t2.sum()),
        "n_liver": int((liver & ~t1 & ~t2).sum()),
    }


def test_naming_a_tumour_does_not_change_the_normalisation(
    two_tumour_labels: dict[str, object],
) -> None:
    """Review F1: ``tumor_rois`` selects what is reported; every dose stays the same.

    The whole liver is liver + tumor1 + tumor2 whichever tumours are named, so it holds all
    the counts: A = 2 GBq over 10 n_liver + 40 (n_t1 + n_t2) counts, and tumor1's LDM mean
    dose is C x A_t1 / (rho V_t1) with A_t1 = 2 x 40 n_t1 / counts.
    """
    p = two_tumour_labels
    n_t1, n_t2, n_liver = int(p["n_t1"]), int(p["n_t2"]), int(p["n_liver"])  # type: ignore[call-overload]
    counts = 10.0 * n_liver + 40.0 * (n_t1 + n_t2)
    a_t1_gbq = 2.0 * 40.0 * n_t1 / counts
    mass_kg = LIVER_DENSITY_G_ML.value * n_t1 * SPACING_MM**3 / 1e3 / 1e3
    expected_gy = ENERGY_EANM_J_PER_GBQ.value * a_t1_gbq / mass_kg
    runs = [
        voxel(p["spect"], p["labels"], roi_names=p["names"], activity_gbq=2.0, method="ldm", **kw)
        for kw in ({}, {"tumor_rois": ["tumor1"]}, {"tumor_rois": ["tumor2"]})
    ]
    for run in runs:
        assert run.activity.activity_in_mask_gbq == pytest.approx(2.0)
        assert run.activity.activity_outside_mask_gbq == pytest.approx(0.0, abs=1e-12)
        assert run.metrics["tumor1"].mean_gy == pytest.approx(expected_gy, rel=1e-6)
        assert run.metrics["tumor2"].mean_gy == pytest.approx(expected_gy, rel=1e-6)
        # normal liver = liver label only (every tumour VOI left out, named or not): 10/40
        assert run.metrics["normal_liver"].mean_gy == pytest.approx(expected_gy / 4, rel=1e-6)
        assert run.vois.volume_ml("normal_liver") == pytest.approx(n_liver * SPACING_MM**3 / 1e3)
        assert not any("outside the normalisation VOI" in w for w in run.warnings)
        assert run.activity.fraction_outside_mask == pytest.approx(0.0, abs=1e-12)


def test_counts_outside_the_normalisation_voi_are_reported_and_warned(
    two_tumour_labels: dict[str, object], tmp_path: Path
) -> None:
    """Review F4: normalised to one tumour, the image holds far more than was given.

    tumor1 holds 40 n_t1 of the counts and is given 2 GBq, so the image holds
    2 x counts / (40 n_t1) GBq; the share outside is 1 - 40 n_t1 / counts.
    """
    p = two_tumour_labels
    n_t1, n_t2, n_liver = int(p["n_t1"]), int(p["n_t2"]), int(p["n_liver"])  # type: ignore[call-overload]
    counts = 10.0 * n_liver + 40.0 * (n_t1 + n_t2)
    total_gbq = 2.0 * counts / (40.0 * n_t1)
    outside = 1.0 - 40.0 * n_t1 / counts
    result = voxel_run(
        p["spect"],
        p["labels"],
        tmp_path / "out",
        roi_names=p["names"],
        activity_gbq=2.0,
        normalize_to="tumor1",
        method="ldm",
        write_pngs=False,
    )
    assert result.activity["fraction_outside_mask"] == pytest.approx(outside, rel=1e-9)
    assert result.energy_balance.activity_in_image_gbq == pytest.approx(total_gbq, rel=1e-6)
    assert f"{outside:.1%} of the image's counts" in result.activity["description"]
    [warning] = [w for w in result.warnings if "outside the normalisation VOI" in w]
    assert f"holds {total_gbq:.4g} GBq, {total_gbq / 2.0:.3g} x the 2 GBq" in warning
    assert f"{outside:.1%} of the image's counts" in warning
