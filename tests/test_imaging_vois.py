"""VOI sets: derived normal liver (liver minus tumours), label maps with JSON names, and
DICOM SEG read with pydicom, each checked against masks of known volume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from y90dose.errors import GeometryError, ImageError, InputError
from y90dose.imaging import (
    NORMAL_LIVER,
    EmptyVoiError,
    Image,
    VoiNotFoundError,
    Vois,
    read_image,
    read_labelmap,
    read_rtstruct,
    read_seg,
    with_normal_liver,
    write_image_file,
)
from y90dose.imaging.synthetic import SyntheticStudy, make_sphere_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStudy:
    return make_sphere_study(tmp_path_factory.mktemp("sphere"), write_nm=False)


@pytest.fixture(scope="module")
def ct(study: SyntheticStudy) -> Image:
    return read_image(study.ct_folder)


@pytest.fixture(scope="module")
def vois(study: SyntheticStudy, ct: Image) -> Vois:
    return read_rtstruct(study.rtstruct_path, ct)


def test_normal_liver_is_liver_minus_tumours(vois: Vois, study: SyntheticStudy) -> None:
    derived = with_normal_liver(vois)  # tumour found by name ("tumor1")
    assert derived.volume_ml(NORMAL_LIVER) == pytest.approx(
        derived.volume_ml("liver") - derived.volume_ml("tumor1")
    )
    assert derived.volume_ml(NORMAL_LIVER) == pytest.approx(study.normal_liver_volume_ml, rel=0.03)
    assert not (derived[NORMAL_LIVER] & derived["tumor1"]).any()
    with pytest.raises(VoiNotFoundError, match="'liver'"):
        with_normal_liver(vois.select(["tumor1"]))
    with pytest.raises(InputError, match="tumour"):
        with_normal_liver(vois.select(["liver"]))
    with pytest.raises(EmptyVoiError, match="normal_liver"):
        with_normal_liver(vois, tumours=["liver"])


def test_vois_refuse_empty_masks_and_unknown_names(vois: Vois) -> None:
    with pytest.raises(EmptyVoiError, match="'void'"):
        vois.with_masks({"void": np.zeros(vois.grid.shape_zyx, dtype=bool)})
    with pytest.raises(VoiNotFoundError, match=r"'lung'.*available"):
        vois["lung"]


def _labels(vois: Vois) -> np.ndarray:
    labels = np.zeros(vois.grid.shape_zyx, dtype=np.int16)
    labels[vois["liver"]] = 1
    labels[vois["tumor1"]] = 2
    return labels


def test_label_map_with_json_sidecar(vois: Vois, ct: Image, tmp_path: Path) -> None:
    labels = Image(_labels(vois), ct.origin_mm, ct.spacing_mm)
    path = write_image_file(labels, tmp_path / "seg.nii.gz", dtype=np.int16)
    (tmp_path / "seg.json").write_text(json.dumps({"1": "liver_only", "2": "tumor1"}))
    read = read_labelmap(path, ct)
    assert read.volume_ml("tumor1") == pytest.approx(vois.volume_ml("tumor1"))
    assert read.volume_ml("liver_only") == pytest.approx(
        vois.volume_ml("liver") - vois.volume_ml("tumor1")
    )
    # onto the coarser SPECT grid by nearest neighbour: volumes kept to within 3 %
    spect = read_image(Path(ct.metadata["source_path"]).parent / "spect")
    coarse = read_labelmap(path, spect, names={1: "liver_only", 2: "tumor1"})
    assert coarse.volume_ml("tumor1") == pytest.approx(vois.volume_ml("tumor1"), rel=0.03)
    # the wrapped form the phantom generator writes
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"labels": {"1": "liver_only", "2": "tumor1"}, "note": "x"}))
    assert set(read_labelmap(path, ct, names=wrapped)) == {"liver_only", "tumor1"}


def test_label_map_refusals(vois: Vois, ct: Image, tmp_path: Path) -> None:
    labels = Image(_labels(vois), ct.origin_mm, ct.spacing_mm)
    path = write_image_file(labels, tmp_path / "seg.nii.gz", dtype=np.int16)
    with pytest.raises(InputError, match=r"seg\.json"):
        read_labelmap(path, ct)
    with pytest.raises(ImageError, match=r"label values \[2\] have no name"):
        read_labelmap(path, ct, names={"1": "liver"})
    assert set(read_labelmap(path, ct, names={"1": "liver"}, ignore_unnamed=True)) == {"liver"}
    with pytest.raises(EmptyVoiError, match=r"'kidney' \(label 3\)"):
        read_labelmap(path, ct, names={"1": "liver", "2": "t", "3": "kidney"})
    with pytest.raises(InputError, match="positive integer"):
        read_labelmap(path, ct, names={"one": "liver"})


def _write_seg(vois: Vois, ct: Image, path: Path, frame_uid: str) -> Path:
    """A minimal BINARY DICOM SEG (PS3.3 A.51) with one frame per segment and slice."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.66.4")
    ds.file_meta.MediaStorageSOPInstanceUID = UID(generate_uid())
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SEG"
    ds.FrameOfReferenceUID = frame_uid
    ds.SegmentationType = "BINARY"
    segments, frames, groups = [], [], []
    for number, name in enumerate(["liver", "tumor1"], start=1):
        segment = Dataset()
        segment.SegmentNumber = number
        segment.SegmentLabel = name
        segments.append(segment)
        for k in np.flatnonzero(vois[name].any(axis=(1, 2))):
            frames.append(vois[name][k])
            identification = Dataset()
            identification.ReferencedSegmentNumber = number
            position = Dataset()
            position.ImagePositionPatient = [
                f"{v:.4f}" for v in ct.index_to_physical_mm([0.0, 0.0, float(k)])
            ]
            group = Dataset()
            group.SegmentIdentificationSequence = DicomSequence([identification])
            group.PlanePositionSequence = DicomSequence([position])
            groups.append(group)
    ds.SegmentSequence = DicomSequence(segments)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(groups)
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures = Dataset()
    measures.PixelSpacing = [ct.spacing_mm[1], ct.spacing_mm[0]]
    measures.SliceThickness = ct.spacing_mm[2]
    shared = Dataset()
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    stack = np.stack(frames).astype(np.uint8)
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = stack.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    ds.PixelData = pack_bits(stack.ravel())
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_seg_gives_back_the_masks(vois: Vois, ct: Image, tmp_path: Path) -> None:
    assert ct.frame_of_reference_uid is not None
    path = _write_seg(vois, ct, tmp_path / "seg.dcm", ct.frame_of_reference_uid)
    read = read_seg(path, ct)
    assert np.array_equal(read["liver"], vois["liver"])
    assert np.array_equal(read["tumor1"], vois["tumor1"])
    assert pydicom.dcmread(path).NumberOfFrames > 0
    other = _write_seg(vois, ct, tmp_path / "other.dcm", "1.2.999")
    with pytest.raises(GeometryError, match=r"1\.2\.999"):
        read_seg(other, ct)
    with pytest.raises(VoiNotFoundError, match="spleen"):
        read_seg(path, ct, names=["spleen"])
