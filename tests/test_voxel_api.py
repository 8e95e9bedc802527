"""The voxel API: one options model for every interface, one call behind them all.

- every :class:`VoxelOptions` field is a ``y90dose voxel`` option and a dose-job field
  (the service refuses only those its policy names), and a field added to the model
  becomes both without another edit;
- ``y90dose.voxel_dose`` (Python), ``y90dose voxel`` (CLI), the service's dose-job
  runner and ``y90dose validate``'s pipeline runs give the same dose, bit for bit.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from pydantic import Field

import y90dose
from y90dose.cli.main import build_parser, main
from y90dose.cli.model_options import add_model_options
from y90dose.cli.voxel import OPTION_RENAMES
from y90dose.errors import InputError
from y90dose.imaging.synthetic import make_sphere_study
from y90dose.pipeline.options import VoxelOptions
from y90dose.validation_suite import phantom_checks
from y90dose_service.schemas.dose_jobs import DoseJobCreate, job_fields
from y90dose_service.voxel_jobs import JOB_FIELDS, REFUSED_OPTIONS, REQUIRED_OPTIONS, run_voxel_job


def _voxel_parser() -> argparse.ArgumentParser:
    parser = build_parser(["voxel"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    voxel: argparse.ArgumentParser = sub.choices["voxel"]
    return voxel


def test_every_option_is_a_cli_option_and_a_job_field() -> None:
    options = set(VoxelOptions.model_fields)
    cli = {action.dest for action in _voxel_parser()._actions}
    assert options <= cli
    for name in options:
        expected = "--" + OPTION_RENAMES.get(name, name).replace("_", "-")
        action = next(a for a in _voxel_parser()._actions if a.dest == name)
        assert expected in action.option_strings
    job = set(DoseJobCreate.model_fields)
    assert job == (options - set(REFUSED_OPTIONS)) | set(JOB_FIELDS)
    assert set(REFUSED_OPTIONS) <= options and set(REQUIRED_OPTIONS) <= options
    for name in REQUIRED_OPTIONS:
        assert DoseJobCreate.model_fields[name].is_required()
    # one method enum, one default, everywhere
    assert DoseJobCreate.model_fields["method"].default is VoxelOptions().method
    assert y90dose.VoxelOptions().method.value == "dvk"


def test_a_new_option_needs_no_other_edit() -> None:
    """A field added to the model is a CLI option and a job field, with its limits."""

    class WithNewOption(VoxelOptions):
        margin_mm: float = Field(0.0, ge=0.0, le=10.0, description="a new option")

    parser = argparse.ArgumentParser()
    add_model_options(parser, WithNewOption)
    assert parser.parse_args(["--margin-mm", "2"]).margin_mm == "2"
    fields = job_fields(WithNewOption)
    assert "margin_mm" in fields and fields["margin_mm"][1].description == "a new option"


def test_library_messages_name_fields_the_cli_names_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError) as error:
        VoxelOptions.of({"activity_gbq": 500})
    assert str(error.value).startswith("activity_gbq: 500 is not allowed")
    code = main(["voxel", "--spect", "x", "--rois", "y", "--activity-gbq", "500", "--out", "o"])
    assert code == 2
    assert "--activity-gbq: '500' is not allowed" in capsys.readouterr().err


def _dose(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_python_cli_service_and_validate_give_the_same_dose(tmp_path: Path) -> None:
    study = make_sphere_study(tmp_path / "study", write_nm=False)
    options = {"product": "glass", "method": "dvk", "lsf": 0.0}

    run = y90dose.voxel_dose(
        study.spect_folder,
        study.rtstruct_path,
        options=y90dose.VoxelOptions(**options),
        ct=study.ct_folder,
    )
    python = sitk.GetArrayFromImage(run.dose)
    assert python.dtype == np.float32 and python.max() > 0
    written = run.write(tmp_path / "python", write_pngs=False)
    assert np.array_equal(_dose(tmp_path / "python" / written.files["dose_nifti"]), python)
    assert written.metrics["liver"].mean_gy == run.metrics["liver"].mean_gy

    argv = ["voxel", "--spect", str(study.spect_folder), "--rois", str(study.rtstruct_path)]
    argv += ["--ct", str(study.ct_folder), "--product", "glass", "--method", "dvk"]
    assert main([*argv, "--no-png", "--out", str(tmp_path / "cli")]) == 0
    cli = _dose(tmp_path / "cli" / "dose_gy.nii.gz")

    job = run_voxel_job(
        study.folder, {**options, "write_pngs": False}, tmp_path / "job", lambda f, s: None
    )
    service = _dose(tmp_path / "job" / "dose_gy.nii.gz")

    layout = tmp_path / "phantom" / "dicom"  # the layout validate's phantoms have
    layout.mkdir(parents=True)
    (layout / "pt").symlink_to(study.spect_folder)
    (layout / "ct").symlink_to(study.ct_folder)
    (layout / "rtstruct.dcm").symlink_to(study.rtstruct_path)
    validated, _ = phantom_checks._run(
        layout.parent, "pt", "dvk", tmp_path / "validate", product="glass"
    )
    validate = validated.dose_image.array

    for dose in (cli, service, validate):
        assert np.array_equal(dose, python)
    assert job["metrics"]["liver"]["mean_gy"] == run.metrics["liver"].mean_gy
