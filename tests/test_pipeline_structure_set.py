"""The RT Structure Set of a dose run (``y90dose.pipeline.structure_set``): the run's VOI
masks, put on the reference image's grid by nearest neighbour, contoured and rasterised
back give the same voxels; isodose structures are the dose at or above their level; a
level the dose does not reach is refused with the dose's maximum.

The run folder is made by hand: masks on a dose grid of 8 mm whose voxels each hold 2 x 2
x 2 voxels of a 4 mm CT, so the masks expected on the CT are the dose-grid masks with
each voxel repeated twice along every axis.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from y90dose.errors import InputError
from y90dose.imaging.dicom_series import read_dicom
from y90dose.imaging.dicom_write import StudyInfo, write_ct_series
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.nifti import write_mask_file
from y90dose.imaging.rtstruct import read_rtstruct
from y90dose.pipeline.structure_set import run_masks, write_run_structure_set

CT_SHAPE_ZYX = (8, 12, 16)
DOSE_SHAPE_ZYX = (4, 6, 8)


def _ct(folder: Path) -> Image:
    study = StudyInfo.new(uid_prefix="structure-set-test")
    hu = Image(
        np.zeros(CT_SHAPE_ZYX),
        (0.0, 0.0, 0.0),
        (4.0, 4.0, 4.0),
        frame_of_reference_uid=study.frame_of_reference_uid,
        modality="CT",
        units="HU",
    )
    write_ct_series(hu, folder, study=study, uid_seed="structure-set-test")
    return read_dicom(folder)


def _run(folder: Path) -> dict[str, np.ndarray]:
    """A run folder with liver, one tumour and the derived VOIs on an 8 mm dose grid whose
    voxel centres sit at 2, 10, 18... mm (each holds CT centres 8j and 8j + 4)."""
    grid = Grid(DOSE_SHAPE_ZYX, (2.0, 2.0, 2.0), (8.0, 8.0, 8.0))
    liver = np.zeros(DOSE_SHAPE_ZYX, dtype=bool)
    liver[1:3, 1:5, 1:7] = True
    tumour = np.zeros(DOSE_SHAPE_ZYX, dtype=bool)
    tumour[1:3, 2:3, 3:5] = True
    masks = {"liver": liver, "tumor1": tumour, "normal_liver": liver & ~tumour, "tumors": tumour}
    (folder / "vois").mkdir(parents=True)
    for name, mask in masks.items():
        write_mask_file(mask, grid, folder / "vois" / f"{name}.nii.gz")
    (folder / "vois.json").write_text(
        json.dumps({"vois": {name: f"vois/{name}.nii.gz" for name in masks}})
    )
    (folder / "metrics.json").write_text(json.dumps({"inputs": {"tumor_rois": ["tumor1"]}}))
    return masks


def _on_ct(mask: np.ndarray) -> np.ndarray:
    return mask.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)


def test_structure_set_round_trip_with_derived_and_isodose_structures(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct")
    masks = _run(tmp_path / "run")
    _z, y, x = np.indices(CT_SHAPE_ZYX)
    dose = ct.with_array((10.0 * x + y).astype(np.float64), units="GY")  # 0..161 Gy
    path = write_run_structure_set(
        tmp_path / "run",
        ct,
        tmp_path / "RS.dcm",
        dose_on_reference=dose,
        isodose_levels_gy=[100.0, 150.0],
        uid_seed="send-1",
    )
    vois = read_rtstruct(path, ct)
    assert list(vois) == [*masks, "isodose 100 Gy", "isodose 150 Gy"]
    for name, mask in masks.items():
        assert np.array_equal(vois[name], _on_ct(mask)), name
    # 10 x + y >= 100 with 0 <= y <= 11: every x >= 10, and x = 9 where y >= 10
    assert np.array_equal(vois["isodose 100 Gy"], (x >= 10) | ((x == 9) & (y >= 10)))
    assert np.array_equal(vois["isodose 150 Gy"], (x >= 15) | ((x == 14) & (y >= 10)))

    ds = pydicom.dcmread(path)
    types = {o.ReferencedROINumber: o.RTROIInterpretedType for o in ds.RTROIObservationsSequence}
    by_name = {r.ROIName: types[r.ROINumber] for r in ds.StructureSetROISequence}
    assert by_name == {
        "liver": "ORGAN",
        "tumor1": "GTV",
        "normal_liver": "ORGAN",
        "tumors": "GTV",
        "isodose 100 Gy": "DOSE_REGION",
        "isodose 150 Gy": "DOSE_REGION",
    }
    assert ds.StudyInstanceUID == ct.study_instance_uid
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == ct.frame_of_reference_uid
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == ct.series_instance_uid
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == list(
        ct.sop_instance_uids
    )
    again = write_run_structure_set(tmp_path / "run", ct, tmp_path / "RS2.dcm", uid_seed="send-1")
    assert pydicom.dcmread(again).SOPInstanceUID == ds.SOPInstanceUID  # a retried send


def test_a_level_the_dose_does_not_reach_is_refused_with_its_maximum(tmp_path: Path) -> None:
    ct = _ct(tmp_path / "ct")
    _run(tmp_path / "run")
    dose = ct.with_array(np.full(CT_SHAPE_ZYX, 80.0), units="GY")
    with pytest.raises(InputError) as caught:
        run_masks(tmp_path / "run", ct, dose_on_reference=dose, isodose_levels_gy=[50, 120])
    assert caught.value.field == "isodose_levels_gy[1]"
    assert "maximum is 80 Gy" in str(caught.value)
    with pytest.raises(InputError) as caught:
        run_masks(tmp_path / "run", ct, isodose_levels_gy=[50])  # no dose to contour
    assert caught.value.field == "isodose_levels_gy"
    for bad in ([0.0], [float("nan")], [50.0, 50.0], [float(v) for v in range(1, 22)]):
        with pytest.raises(InputError):
            run_masks(tmp_path / "run", ct, dose_on_reference=dose, isodose_levels_gy=bad)
