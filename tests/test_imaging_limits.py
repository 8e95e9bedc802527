"""Image-size limit and whole-instance checks of the readers (issue 9, defects 3 and 5):
the CLI refuses what the service refuses, from the header, before pixel data is read."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.cli import main as cli_main
from y90dose.errors import ImageError, ImageTooLargeError, InputError
from y90dose.imaging import read_image
from y90dose.imaging.dicom_series import read_dicom_header
from y90dose.imaging.synthetic import make_sphere_study
from y90dose.limits import DEFAULT_MAX_VOXELS, check_voxel_count, max_voxels, voxel_limit


def test_default_fits_a_512_x_512_x_1000_ct_and_the_limit_is_exact() -> None:
    check_voxel_count((512, 512, 1000), "ct")  # 262,144,000 voxels: passes by default
    with voxel_limit(1000):
        assert max_voxels() == 1000
        check_voxel_count((10, 10, 10), "a.nii")
        with pytest.raises(ImageTooLargeError, match=r"a\.nii: 10 x 10 x 11 = 1100 voxels"):
            check_voxel_count((10, 10, 11), "a.nii")
    assert max_voxels() == DEFAULT_MAX_VOXELS  # restored after the block
    for bad in (0, -5, 2.5, True):
        with pytest.raises(InputError, match="max_voxels"), voxel_limit(bad):  # type: ignore[arg-type]
            pass


def _nifti_header_only(path: Path, dims: tuple[int, int, int]) -> Path:
    """A NIfTI-1 header claiming ``dims`` float32 voxels, with no voxel data at all."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 16, 32)  # datatype float32, bitpix 32
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)  # vox_offset
    header[344:348] = b"n+1\x00"
    path.write_bytes(bytes(header))
    return path


def test_a_600_cubed_nifti_is_refused_from_its_header(tmp_path: Path) -> None:
    """216 M voxels claimed by a 352-byte file: refused as too large under a limit of
    100 M, before any voxel is read (else: refused as truncated, after reading it)."""
    path = _nifti_header_only(tmp_path / "big.nii", (600, 600, 600))
    with voxel_limit(100_000_000), pytest.raises(ImageTooLargeError) as error:
        read_image(path)
    assert "600 x 600 x 600 = 216000000 voxels" in str(error.value)
    assert str(path) in str(error.value)


def test_dicom_series_and_multiframe_past_the_limit(tmp_path: Path) -> None:
    study = make_sphere_study(tmp_path / "s")
    ct_voxels = 40 * 80 * 80
    with voxel_limit(ct_voxels):
        assert read_image(study.ct_folder).array.size == ct_voxels
    with voxel_limit(ct_voxels - 1), pytest.raises(ImageTooLargeError, match="80 x 80 x 40"):
        read_image(study.ct_folder)
    assert study.nm_path is not None
    with voxel_limit(42 * 42 * 26 - 1), pytest.raises(ImageTooLargeError, match="42 x 42 x 26"):
        read_image(study.nm_path)


def test_a_cut_ct_slice_is_refused_naming_it(tmp_path: Path) -> None:
    study = make_sphere_study(tmp_path / "s")
    folder = tmp_path / "ct"
    shutil.copytree(study.ct_folder, folder)
    victim = sorted(folder.iterdir())[5]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="truncated") as error:
        read_image(folder)
    assert str(victim) in str(error.value)
    with pytest.raises(ImageError, match="truncated"):
        read_dicom_header(victim)


def test_cli_max_voxels_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    counts = np.zeros((12, 12, 12), np.float32)
    counts[2:10, 2:10, 2:10] = 1.0
    labels = (counts > 0).astype(np.uint8)
    labels[4:6, 4:6, 4:6] = 2
    counts[labels == 2] = 4.0
    for name, array in (("spect.nii.gz", counts), ("labels.nii.gz", labels)):
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / name))
    base = ["--spect", str(tmp_path / "spect.nii.gz"), "--rois", str(tmp_path / "labels.nii.gz")]
    base += ["--roi-names", '{"1": "liver", "2": "tumor1"}']
    voxel = ["voxel", *base, "--activity-gbq", "1", "--out", str(tmp_path / "out")]
    plan = ["plan", "from-images", *base, "--liver-roi", "liver", "--tumor-roi", "tumor1"]
    plan += ["--normal-dose-gy", "40", "--lsf", "0.05"]
    for argv in (voxel, plan):
        assert cli_main.main([*argv, "--max-voxels", "1727"]) == 2
        stderr = capsys.readouterr().err
        # the library names its setting (max_voxels), the command its option
        assert "12 x 12 x 12 = 1728 voxels, more than --max-voxels = 1727" in stderr, stderr
        assert "raise --max-voxels if the machine has the memory" in stderr, stderr
        assert cli_main.main([*argv, "--max-voxels", "0"]) == 2
        assert "--max-voxels: 0 is not allowed" in capsys.readouterr().err
    assert cli_main.main([*voxel, "--max-voxels", "1728", "--no-png"]) == 0, capsys.readouterr()


def test_a_600_cubed_emission_image_is_refused_while_a_512_x_512_x_1000_ct_passes(
    tmp_path: Path,
) -> None:
    """Issue 9 defect 3: 216 M voxels pass the image limit (300 M) but not the emission
    limit (64 M: 64e6 x 36 B + 200 MB = 2.5 GB for a dose job, 216e6 x 36 B + 200 MB =
    8.0 GB here), refused from the 352-byte header before any voxel is read."""
    from y90dose.limits import (
        DEFAULT_MAX_EMISSION_VOXELS,
        emission_voxel_limit,
        reading_emission,
    )
    from y90dose.pipeline import voxel_dose
    from y90dose.pipeline.inputs import read_emission_image

    assert DEFAULT_MAX_EMISSION_VOXELS == 64_000_000
    with reading_emission():
        check_voxel_count((400, 400, 300), "pet")  # a large PET passes
    check_voxel_count((512, 512, 1000), "ct")  # the CT limit still fits a long CT
    check_voxel_count((600, 600, 600), "ct")  # and 600^3 as a non-emission image
    path = _nifti_header_only(tmp_path / "spect.nii", (600, 600, 600))
    with pytest.raises(ImageTooLargeError) as error:
        read_emission_image(path)
    said = str(error.value)
    assert str(path) in said and "600 x 600 x 600 = 216000000 voxels" in said, said
    assert "max_emission_voxels = 64000000" in said and "8.0 GB" in said, said
    with pytest.raises(ImageTooLargeError, match="max_emission_voxels"):
        voxel_dose(
            path,
            {"liver": sitk.GetImageFromArray(np.ones((2, 2, 2), np.uint8))},
            options={"activity_gbq": 1.0},
        )
    with emission_voxel_limit(216_000_000), pytest.raises(ImageError) as other:
        read_emission_image(path)  # raised: now refused only as a header without data
    assert "more than max_emission_voxels" not in str(other.value)
    for bad in (0, -1, 2.5):
        with (
            pytest.raises(InputError, match="max_emission_voxels"),
            emission_voxel_limit(bad),  # type: ignore[arg-type]
        ):
            pass


def test_cli_max_emission_voxels_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spect = _nifti_header_only(tmp_path / "spect.nii", (600, 600, 600))
    labels = tmp_path / "labels.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 4, 4), np.uint8)), str(labels))
    voxel = ["voxel", "--spect", str(spect), "--rois", str(labels)]
    voxel += [
        "--roi-names",
        '{"1": "liver"}',
        "--activity-gbq",
        "1",
        "--out",
        str(tmp_path / "out"),
    ]
    assert cli_main.main(voxel) == 2
    stderr = capsys.readouterr().err
    assert "600 x 600 x 600 = 216000000 voxels" in stderr, stderr
    assert "more than --max-emission-voxels = 64000000" in stderr, stderr
    assert cli_main.main([*voxel, "--max-emission-voxels", "0"]) == 2
    assert "--max-emission-voxels: 0 is not allowed" in capsys.readouterr().err
    assert cli_main.main([*voxel, "--max-emission-voxels", "216000000"]) == 2
    assert "more than --max-emission-voxels" not in capsys.readouterr().err  # now: no voxel data
