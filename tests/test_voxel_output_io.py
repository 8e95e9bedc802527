"""The fast paths of a voxel run's I/O give what the slow ones gave (issue 10, section 3).

- NIfTI files written from the array are byte for byte what SimpleITK writes (header and
  voxels), gzipped or not; a volume written slab by slab leaves no file when it fails;
- each DICOM file of a series is parsed once (its header by the folder scan, its pixel
  data read at the offset the scan checked), with the values pydicom gives for the whole
  file; a file changed after the scan, and compressed data, are handled;
- VOI sets share their masks instead of copying them;
- the BED and EQD2 maps (streamed slab by slab) are Dale's formula voxel by voxel, the
  VOI masks uint8, the RT Dose stored values rint(D / scaling) whatever the slab size;
- the tumour outline of the slice figures, resampled from the mask's bounding box, is the
  one the whole mask gives;
- RTSTRUCT contour numbers parsed from their text by numpy are pydicom's;
- the figures (numpy and Pillow) draw each DVH curve, the dose in ``jet`` with the voxels'
  aspect, coronal and sagittal views with z upwards, and the tumour's outline.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from pydicom.uid import ImplicitVRLittleEndian, RLELossless

from y90dose.constants import (
    NORMAL_LIVER_ALPHA_BETA_GY,
    NORMAL_LIVER_REPAIR_HALF_TIME_H,
    TUMOR_ALPHA_BETA_GY,
    TUMOR_REPAIR_HALF_TIME_H,
    Y90_HALF_LIFE_H,
)
from y90dose.errors import ImageError, InputError
from y90dose.imaging import dicom_series, rtdose
from y90dose.imaging.dicom_write import StudyInfo, write_pt_series
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.nifti import VolumeWriter, write_volume
from y90dose.imaging.resample import resample_mask
from y90dose.imaging.rtstruct import read_rois
from y90dose.imaging.synthetic import make_sphere_study
from y90dose.imaging.vois import Vois
from y90dose.pipeline import figures, outputs, voxel_run
from y90dose.pipeline.inputs import read_emission_image
from y90dose.pipeline.run import run_voxel_dosimetry

OBLIQUE = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])


def _simpleitk_bytes(array: np.ndarray, grid: Grid, folder: Path) -> bytes:
    image = sitk.GetImageFromArray(array)
    image.SetOrigin(grid.origin_mm)
    image.SetSpacing(grid.spacing_mm)
    image.SetDirection(tuple(grid.direction.ravel().tolist()))
    sitk.WriteImage(image, str(folder / "reference.nii"), useCompression=False)
    return (folder / "reference.nii").read_bytes()


@pytest.mark.parametrize(
    ("shape", "dtype", "direction"),
    [
        ((7, 5, 6), np.float32, np.eye(3)),
        ((7, 5, 6), np.float32, OBLIQUE),
        ((1, 4, 3), np.float64, OBLIQUE.T),
        ((6, 1, 9), np.uint8, np.eye(3)),
        ((3, 4, 5), np.int16, OBLIQUE),
    ],
)
def test_nifti_files_are_what_simpleitk_writes(
    tmp_path: Path, shape: tuple[int, int, int], dtype: Any, direction: np.ndarray
) -> None:
    rng = np.random.default_rng(3)
    array = (rng.random(shape) * 100).astype(dtype)
    grid = Grid(shape, (-12.5, 3.25, 100.0), (1.5, 2.0, 3.25), direction)
    expected = _simpleitk_bytes(array, grid, tmp_path)
    write_volume(
        array, grid.origin_mm, grid.spacing_mm, grid.direction, tmp_path / "a.nii", dtype=dtype
    )
    gz = tmp_path / "a.nii.gz"
    write_volume(array, grid.origin_mm, grid.spacing_mm, grid.direction, gz, dtype=dtype)
    assert (tmp_path / "a.nii").read_bytes() == expected
    with gzip.open(gz, "rb") as stream:
        assert stream.read() == expected
    back = sitk.ReadImage(str(gz))
    assert np.array_equal(sitk.GetArrayFromImage(back), array)
    assert back.GetOrigin() == grid.origin_mm


def test_a_volume_past_nifti1_dimensions_is_refused_as_simpleitk_does(tmp_path: Path) -> None:
    array = np.zeros((1, 1, 40_000), dtype=np.float32)  # a dimension > 32767
    path = tmp_path / "long.nii.gz"
    with pytest.raises(ImageError, match="32767"):
        write_volume(array, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), np.eye(3), path)
    assert not path.exists()


def test_a_volume_written_in_slabs_is_whole_or_absent(tmp_path: Path) -> None:
    grid = Grid((4, 3, 2), (0.0, 0.0, 0.0), (1.0, 1.0, 2.0))
    values = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    for name in ("s.nii.gz", "s.mha"):  # streamed, and gathered for SimpleITK
        with VolumeWriter(tmp_path / name, grid) as writer:
            writer.write(values[:3])
            writer.write(values[3:])
        assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / name))), values)
    missing = tmp_path / "missing.nii.gz"
    with pytest.raises(ImageError, match="3 of 4 planes"), VolumeWriter(missing, grid) as writer:
        writer.write(values[:3])
    assert not missing.exists()
    failed = tmp_path / "failed.nii.gz"
    with pytest.raises(RuntimeError), VolumeWriter(failed, grid) as writer:
        writer.write(values[:1])
        raise RuntimeError("the computation failed")
    assert not failed.exists()
    with pytest.raises(InputError), VolumeWriter(tmp_path / "w.nii", grid) as writer:
        writer.write(values[:, :2])
    assert not (tmp_path / "w.nii").exists()


def _pt_series(folder: Path, slices: int = 6) -> tuple[list[Path], np.ndarray]:
    rng = np.random.default_rng(5)
    values = rng.random((slices, 9, 11)) * 1e5
    study = StudyInfo.new(uid_prefix="parse-once")
    image = Image(values, (-5.0, -4.0, 10.0), (2.0, 2.0, 3.0), frame_of_reference_uid="1.2.3")
    files = write_pt_series(image, folder, study=study, uid_seed="parse-once")
    return files, values


def _pydicom_volume(files: list[Path]) -> np.ndarray:
    """Each file read whole by pydicom: stored x slope + intercept, sorted along z."""
    slices = [pydicom.dcmread(p) for p in files]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack(
        [
            ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
            for ds in slices
        ]
    )


def test_each_file_of_a_series_is_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, values = _pt_series(tmp_path / "pt")
    expected = _pydicom_volume(files)
    # the series holds the values to 16 bits: within a stored step, max / 32767, of each slice
    assert np.allclose(expected, values, rtol=0, atol=values.max() / 32767)
    parsed: list[str] = []
    original = pydicom.dcmread

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(str(getattr(path, "name", path)))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    image = read_emission_image(tmp_path / "pt")
    assert sorted(parsed) == sorted(str(p) for p in files)
    assert np.array_equal(image.array, expected)


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, RLELossless, "12 bits stored"])
def test_other_encodings_read_the_same(tmp_path: Path, syntax: Any) -> None:
    """Implicit VR (read at its offset), RLE (parsed whole), 12 of 16 bits (pydicom decodes)."""
    files, _ = _pt_series(tmp_path / "pt")
    if syntax == "12 bits stored":
        for path in files:
            ds = pydicom.dcmread(path)
            ds.PixelData = (ds.pixel_array.astype(np.int32) & 0x0FFF).astype("<u2").tobytes()
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
            ds.save_as(path, enforce_file_format=True)
        assert np.array_equal(read_emission_image(tmp_path / "pt").array, _pydicom_volume(files))
        return
    expected = _pydicom_volume(files)
    for path in files:
        ds = pydicom.dcmread(path)
        if syntax == RLELossless:
            ds.compress(RLELossless)
            ds.save_as(path, enforce_file_format=True)
        else:
            ds.file_meta.TransferSyntaxUID = syntax
            ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=True)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(read_emission_image(tmp_path / "pt").array, expected)


def test_a_file_cut_after_the_scan_is_refused(tmp_path: Path) -> None:
    files, _ = _pt_series(tmp_path / "pt")
    (series,) = dicom_series.scan_folder(tmp_path / "pt")
    files[2].write_bytes(files[2].read_bytes()[:-40])
    with pytest.raises(ImageError, match="changed while it was read"):
        dicom_series.read_series(series, where=tmp_path / "pt")


def test_voi_sets_share_their_masks() -> None:
    grid = Grid((2, 3, 4), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    liver = np.zeros(grid.shape_zyx, dtype=bool)
    liver[:, 1:, 1:] = True
    vois = Vois(grid, {"liver": liver})
    assert not np.shares_memory(vois["liver"], liver) and not vois["liver"].flags.writeable
    tumour = liver & (np.arange(4) > 2)
    more = vois.with_masks({"tumor": tumour})
    assert np.shares_memory(more["liver"], vois["liver"])
    assert not np.shares_memory(more["tumor"], tumour) and not more["tumor"].flags.writeable
    assert np.shares_memory(more.select(["liver"])["liver"], vois["liver"])
    assert np.shares_memory(more.renamed({"liver": "whole"})["whole"], vois["liver"])


def _bed_gy(dose: np.ndarray, alpha_beta_gy: float, repair_h: float) -> np.ndarray:
    """Dale's BED of a permanent Y-90 implant, D (1 + D T_rep / ((T_rep + T1/2) a/b))."""
    d = dose.astype(np.float64)
    return d * (1.0 + d * repair_h / ((repair_h + Y90_HALF_LIFE_H.value) * alpha_beta_gy))


def test_written_maps_are_the_formula_voxel_by_voxel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = make_sphere_study(tmp_path / "study", write_nm=False)
    monkeypatch.setattr(voxel_run, "_SLAB_VOXELS", 1000)  # many slabs, some cut by a tumour
    monkeypatch.setattr(rtdose, "_SLAB_VOXELS", 700)
    result = run_voxel_dosimetry(
        study.spect_folder,
        study.rtstruct_path,
        tmp_path / "out",
        options={"lsf": 0.0, "activity_gbq": 2.0},
        write_pngs=False,
    )
    out = tmp_path / "out"

    def read(name: str) -> np.ndarray:
        return sitk.GetArrayFromImage(sitk.ReadImage(str(out / name)))

    dose = read("dose_gy.nii.gz")
    tumours = np.zeros(dose.shape, dtype=bool)
    index = json.loads((out / result.files["vois_index"]).read_text())["vois"]
    for name in result.vois.tumours:
        mask = sitk.ReadImage(str(out / index[name]))
        assert mask.GetPixelID() == sitk.sitkUInt8
        values = sitk.GetArrayFromImage(mask)
        assert set(np.unique(values).tolist()) == {0, 1}
        tumours |= values == 1
    assert tumours.any() and (~tumours & (dose > 0)).any()
    normal_ab, normal_rep = NORMAL_LIVER_ALPHA_BETA_GY.value, NORMAL_LIVER_REPAIR_HALF_TIME_H.value
    tumour_ab, tumour_rep = TUMOR_ALPHA_BETA_GY.value, TUMOR_REPAIR_HALF_TIME_H.value
    bed = np.where(
        tumours, _bed_gy(dose, tumour_ab, tumour_rep), _bed_gy(dose, normal_ab, normal_rep)
    )
    eqd2 = bed / (1.0 + 2.0 / np.where(tumours, tumour_ab, normal_ab))
    np.testing.assert_allclose(read("bed_gy.nii.gz"), bed, rtol=1e-6, atol=0)
    np.testing.assert_allclose(read("eqd2_gy.nii.gz"), eqd2, rtol=1e-6, atol=0)
    ds = pydicom.dcmread(out / "rtdose.dcm")
    scaling = float(ds.DoseGridScaling)
    stored = np.rint(dose.astype(np.float64) / scaling).astype(np.uint32)
    assert np.array_equal(ds.pixel_array, stored)


def test_the_tumour_outline_from_its_box_is_the_whole_masks() -> None:
    dose_grid = Grid((20, 24, 22), (-40.0, -45.0, -30.0), (4.0, 4.0, 4.0), OBLIQUE)
    k, j, i = np.ogrid[:20, :24, :22]
    mask = (k - 9.3) ** 2 + (j - 12.1) ** 2 / 2 + (i - 8.7) ** 2 <= 16
    box, box_grid, start = outputs._cropped_mask(mask, dose_grid)
    assert box.shape < mask.shape and box.sum() == mask.sum()
    assert outputs._centroid_index(box, start) == outputs._centroid_index(mask)
    for shape, corner in (((1, 70, 60), (-45.0, -52.0, 7.3)), ((50, 1, 60), (-45.0, 3.1, -31.0))):
        plane = Grid(shape, corner, (1.37, 1.37, 1.9), OBLIQUE)
        assert np.array_equal(
            resample_mask(box, box_grid, plane), resample_mask(mask, dose_grid, plane)
        )
        assert resample_mask(mask, dose_grid, plane).any()
    for z in (6, 9, 12):  # without a CT a view is a plane of the dose grid: sliced
        x0, y0, z0 = dose_grid.index_to_physical_mm(np.array([0.0, 0.0, float(z)]))
        plane = Grid((1, 24, 22), (float(x0), float(y0), float(z0)), (4.0,) * 3, OBLIQUE)
        assert np.array_equal(resample_mask(box, box_grid, plane)[0], mask[z])


def test_contour_numbers_are_pydicoms(tmp_path: Path) -> None:
    """ContourData parsed from its text by numpy: the numbers pydicom gives, one by one."""
    study = make_sphere_study(tmp_path / "study", write_nm=False)
    rois, _ = read_rois(study.rtstruct_path)
    ds = pydicom.dcmread(study.rtstruct_path)
    expected = [
        np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
        for item in ds.ROIContourSequence
        for contour in item.ContourSequence
    ]
    parsed = [points for roi in rois for points in roi.contours_mm]
    assert len(parsed) == len(expected) > 10
    for points, reference in zip(parsed, expected, strict=True):
        assert np.array_equal(points, reference)


def test_figures_show_the_curves_the_dose_and_the_outline(tmp_path: Path) -> None:
    """The DVH draws each VOI's curve in its colour; the slices the dose and the outline."""
    from PIL import Image as PilImage

    dose = np.zeros((9, 12, 10))
    dose[2:7, 3:9, 2:8] = 40.0
    dose[4, 5:7, 4:6] = 80.0
    mask = dose >= 80.0
    curves = [
        figures.Curve("liver", np.array([0.0, 10.0, 20.0]), np.array([100.0, 60.0, 0.0])),
        figures.Curve("tumour", np.array([0.0, 50.0, 90.0]), np.array([100.0, 100.0, 0.0])),
    ]
    dvh = np.asarray(PilImage.open(figures.draw_dvh(curves, [100.0], "DVH", tmp_path / "d.png")))
    assert dvh.shape == (500, 800, 3)
    for colour in figures.CURVE_COLOURS[:2]:  # each curve's colour, in the plot and legend
        assert np.count_nonzero(np.all(np.abs(dvh.astype(int) - colour) < 30, axis=-1)) > 200
    planes = [
        figures.Plane("axial", dose[4], None, mask[4], 2.0, 2.0, rows_up=False),
        figures.Plane("coronal", dose[:, 5], None, mask[:, 5], 4.0, 2.0, rows_up=True),
    ]
    path = figures.draw_slices(planes, 80.0, "tumour", "", tmp_path / "s.png")
    image = np.asarray(PilImage.open(path))
    assert image.shape == (520, 1500, 3)
    red = figures.jet_rgb(1.0)  # the peak's colour, opaque without a CT
    assert np.count_nonzero(np.all(image == red, axis=-1)) > 100
    assert np.count_nonzero(np.all(image == figures.jet_rgb(0.5), axis=-1)) > 1000  # 40 Gy
    axial = figures.plane_rgb(planes[0], 80.0, (410, 410))
    assert axial.shape == (410, 342, 3)  # 12 x 10 voxels of 2 mm: the voxels' aspect
    assert np.count_nonzero(np.all(axial == figures.OUTLINE_COLOUR, axis=-1)) > 100
    coronal = figures.plane_rgb(planes[1], 80.0, (410, 410))
    assert coronal.shape == (410, 228, 3)  # 9 rows of 4 mm, 10 columns of 2 mm
    assert np.array_equal(coronal[0], np.full((228, 3), 255))  # row 8 (no dose) at the top
