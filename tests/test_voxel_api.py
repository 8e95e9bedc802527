"""The voxel API: one options model for every interface, one call behind them all.

- every :class:`VoxelOptions` field is a ``y90dose voxel`` option and a dose-job field
  (the service refuses only those its policy names), and a field added to the model
  becomes both without another edit;
- ``y90dose.voxel_dose`` (Python), ``y90dose voxel`` (CLI), the service's dose-job
  runner and ``y90dose validate``'s pipeline runs give the same dose, bit for bit, with
  an engine named and with the default;
- the default method ``auto`` runs the lung-capable engine when the densities come from
  a CT and the DVK otherwise, and every result says which engine ran and why.
"""

from __future__ import annotations

import argparse
import json
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
from y90dose.pipeline.voxel_run import HETEROGENEOUS_LUNG_STATEMENT, LUNG_KERNEL_STATEMENT
from y90dose.validation_suite import phantom_checks
from y90dose.voxel.methods import VoxelDoseMethod
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
    assert y90dose.VoxelOptions().method.value == "auto"


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


@pytest.mark.parametrize("method", ["dvk", None])  # None: the default, auto
def test_python_cli_service_and_validate_give_the_same_dose(
    tmp_path: Path, method: str | None
) -> None:
    study = make_sphere_study(tmp_path / "study", write_nm=False)
    options = {"product": "glass", "lsf": 0.0, **({"method": method} if method else {})}

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
    argv += ["--ct", str(study.ct_folder), "--product", "glass"]
    argv += ["--method", method] if method else []
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
        layout.parent, "pt", method or "auto", tmp_path / "validate", product="glass"
    )
    validate = validated.dose_image.array

    for dose in (cli, service, validate):
        assert np.array_equal(dose, python)
    assert job["metrics"]["liver"]["mean_gy"] == run.metrics["liver"].mean_gy
    # with a CT, the default is the lung-capable engine, in every interface
    engine = method or "dvk_heterogeneous"
    assert run.method.value == written.method == job["method"] == engine
    assert validated.method.value == engine


# --- the default engine: auto -------------------------------------------------------------
SLAB_SPACING_MM = 3.0  # a Lanconelli 2012 size: the tabulated soft-tissue kernel
SLAB_SHAPE_ZYX = (30, 14, 14)
INTERFACE_Z = 15  # tissue (0 HU) below this slice, lung (-740 HU) from it
SOURCE_Z = (7, 15)  # uniform activity in the 8 tissue slices next to the lung


def _sitk(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((SLAB_SPACING_MM,) * 3)
    return image


@pytest.fixture(scope="module")
def slab() -> dict[str, sitk.Image]:
    """A tissue slab holding uniform activity against lung: the CT in HU, the emission
    image in counts, and masks of the source layer (``liver``) and of the lung."""
    z = np.arange(SLAB_SHAPE_ZYX[0])[:, None, None] * np.ones(SLAB_SHAPE_ZYX)
    hu = np.where(z < INTERFACE_Z, 0.0, -740.0).astype(np.float32)
    source = (z >= SOURCE_Z[0]) & (z < SOURCE_Z[1])
    lung = z >= INTERFACE_Z
    return {
        "ct": _sitk(hu),
        "spect": _sitk(np.where(source, 100.0, 0.0).astype(np.float32)),
        "liver": _sitk(source.astype(np.uint8)),
        "lung": _sitk(lung.astype(np.uint8)),
    }


def _slab_run(slab: dict[str, sitk.Image], ct: bool = True, **options: object) -> y90dose.VoxelRun:
    vois = {"liver": slab["liver"], "lung": slab["lung"]}
    return y90dose.voxel_dose(
        slab["spect"],
        vois,
        options={"activity_gbq": 1.0, **options},
        ct=slab["ct"] if ct else None,
    )


def _profile(run: y90dose.VoxelRun) -> np.ndarray:
    """Mean dose (Gy) of each slice, central 4 x 4 voxels (away from the lateral faces)."""
    dose = run.dose_image.array
    return dose[:, 5:9, 5:9].mean(axis=(1, 2))


def test_auto_with_a_ct_runs_the_lung_capable_engine(slab: dict[str, sitk.Image]) -> None:
    auto = _slab_run(slab)
    named = _slab_run(slab, method="dvk_heterogeneous")
    dvk = _slab_run(slab, method="dvk")
    assert VoxelOptions().method is VoxelDoseMethod.AUTO
    assert auto.method is VoxelDoseMethod.HETEROGENEOUS and dvk.method is VoxelDoseMethod.DVK
    assert np.array_equal(auto.dose_image.array, named.dose_image.array)
    assert auto.method_reason.startswith("method auto: the densities come from the CT")
    assert dvk.method_reason == "method dvk as requested"
    # the soft-tissue kernel piles the energy that crosses the interface into the first
    # lung slice (+145 % in the first 2 mm of the lung-slab phantom against ompMC) and
    # leaves the lung 4-6 mm deep short (-78 %); the lung-capable engine carries it deeper
    het_profile, dvk_profile = _profile(auto), _profile(dvk)
    first, deep = INTERFACE_Z, INTERFACE_Z + 1  # 0-3 mm and 3-6 mm into the lung
    assert dvk_profile[first] > 1.5 * het_profile[first]
    assert het_profile[deep] > 1.5 * dvk_profile[deep]
    # in the tissue beyond the kernel's reach (11 mm) from the lung, the two agree (to the
    # FFT's float32 rounding, relative to the largest dose)
    far = INTERFACE_Z - 4
    np.testing.assert_allclose(
        het_profile[:far], dvk_profile[:far], rtol=1e-5, atol=1e-6 * dvk_profile.max()
    )
    # the result says what the engine does in lung; the DVK's says it is an estimate
    assert auto.lung_statement == HETEROGENEOUS_LUNG_STATEMENT
    assert dvk.lung_statement == LUNG_KERNEL_STATEMENT
    assert not any("assumes soft-tissue transport" in w for w in auto.warnings)
    assert any("'lung': lung; its dose assumes soft-tissue transport" in w for w in dvk.warnings)


def test_auto_without_ct_densities_is_the_dvk(slab: dict[str, sitk.Image]) -> None:
    for run in (_slab_run(slab, ct=False), _slab_run(slab, density="uniform")):
        assert run.method is VoxelDoseMethod.DVK
        assert run.method_reason.startswith("method auto: no CT densities")
        assert run.lung_statement == LUNG_KERNEL_STATEMENT
        named = _slab_run(slab, ct=run.ct is not None, density="uniform", method="dvk")
        assert np.array_equal(run.dose_image.array, named.dose_image.array)


def test_the_result_states_the_engine_and_why(
    slab: dict[str, sitk.Image], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """metrics.json and the CLI's report (default options, a CT given) name the engine."""
    for name in ("spect", "ct"):
        sitk.WriteImage(slab[name], str(tmp_path / f"{name}.nii.gz"))
    labels = sitk.GetArrayFromImage(slab["liver"]) + 2 * sitk.GetArrayFromImage(slab["lung"])
    sitk.WriteImage(_sitk(labels.astype(np.uint8)), str(tmp_path / "labels.nii.gz"))
    argv = ["voxel", "--spect", str(tmp_path / "spect.nii.gz"), "--ct", str(tmp_path / "ct.nii.gz")]
    argv += [
        "--rois",
        str(tmp_path / "labels.nii.gz"),
        "--roi-names",
        '{"1": "liver", "2": "lung"}',
    ]
    argv += ["--activity-gbq", "1", "--no-png", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    report = capsys.readouterr().out
    assert "method DVK_HETEROGENEOUS, kernels per medium: soft tissue lanconelli" in report
    assert "engine: method auto: the densities come from the CT" in report
    assert HETEROGENEOUS_LUNG_STATEMENT in report
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["method"] == summary["inputs"]["method"] == "dvk_heterogeneous"
    assert summary["method_reason"].startswith("method auto: the densities come from the CT")
    assert summary["inputs"]["kernel"] == "auto"
    assert summary["lung_statement"] == HETEROGENEOUS_LUNG_STATEMENT
