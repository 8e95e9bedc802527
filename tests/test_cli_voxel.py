"""``y90dose voxel``, ``y90dose compare`` and ``y90dose plan from-images`` from the command line.

Bad inputs give exit code 2 and one line on stderr naming the file or option, never a
traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.cli import main as cli_main
from y90dose.cli import voxel as cli_voxel
from y90dose.cli.progress import TerminalProgress
from y90dose.errors import InputError
from y90dose.imaging.synthetic import make_sphere_study

SPACING_MM = 4.8
SHAPE = 30


def _write(array: np.ndarray, path: Path, spacing_mm: float = SPACING_MM) -> Path:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((spacing_mm,) * 3)
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    k, j, i = np.meshgrid(*(np.arange(SHAPE),) * 3, indexing="ij")
    liver = (i - 15) ** 2 + (j - 15) ** 2 + (k - 15) ** 2 <= 9**2
    tumour = (i - 18) ** 2 + (j - 15) ** 2 + (k - 15) ** 2 <= 3**2
    labels = np.where(liver, 1, 0).astype(np.uint8)
    labels[tumour] = 2
    counts = np.where(liver, 10.0, 0.0).astype(np.float32)
    counts[tumour] = 50.0
    paths = {
        "spect": _write(counts, folder / "spect.nii.gz"),
        "rois": _write(labels, folder / "labels.nii.gz"),
        "folder": folder,
    }
    (folder / "labels.json").write_text(json.dumps({"1": "liver", "2": "tumor1"}))
    return paths


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_voxel_json(
    phantom: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        [
            "voxel",
            "--spect", str(phantom["spect"]),
            "--rois", str(phantom["rois"]),
            "--activity-gbq", "3.1",
            "--lsf", "0.06",
            "--method", "ldm",
            "--out", str(out),
            "--no-png",
            "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, stderr
    assert stderr == ""  # no progress bar when stderr is not a terminal
    data = json.loads(stdout)
    assert set(data["metrics"]) == {"liver", "tumor1", "normal_liver", "tumors"}
    tumour = data["metrics"]["tumor1"]
    normal = data["metrics"]["normal_liver"]
    for key in ("mean_gy", "d70_gy", "v100_percent", "volume_ml"):
        assert key in tumour
    # LDM, uniform compartments, one density: dose ratio = concentration ratio 5
    assert tumour["mean_gy"] / normal["mean_gy"] == pytest.approx(5.0, rel=1e-6)
    assert data["method"] == "ldm" and data["kernel"] is None
    assert data["activity"]["target_activity_gbq"] == pytest.approx(3.1 * 0.94)
    assert (out / data["files"]["rtdose"]).is_file()
    # the human report prints the table and the lung statement
    code, stdout, _ = _run(["compare", "--planned", str(out), "--delivered", str(out)], capsys)
    assert code == 0 and "tumor1" in stdout and "+0.0 %" in stdout


def test_voxel_dvk_human(
    phantom: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, stderr = _run(
        [
            "voxel",
            "--spect", str(phantom["spect"]),
            "--rois", str(phantom["rois"]),
            "--activity-gbq", "2",
            "--out", str(tmp_path / "dvk"),
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, stderr
    assert "method DVK, kernel lanconelli" in stdout
    assert "lung" in stdout
    assert (tmp_path / "dvk" / "slices_tumor1.png").is_file()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"--spect": "missing.nii.gz"}, "--spect"),
        ({"--rois": "missing.dcm"}, "--rois"),
        ({"--activity-gbq": "-1"}, "--activity-gbq"),
        (
            {"--activity-gbq": "1e308"},
            "--activity-gbq: '1e308' is not allowed; expected a number <= 100.0",
        ),
        ({"--lsf": "6"}, "--lsf"),
        ({"--roi-names": '{"1": "liver", "7": "tumor9"}'}, "label 7"),
        ({"--roi-names": "not json"}, "--roi-names"),
        ({"--normalize-to": "perfused"}, "--normalize-to"),
        (
            {"--liver-roi": "nope"},
            "--liver-roi: 'nope' is not allowed; expected the name of "
            "a VOI in the file: ['liver', 'tumor1']",
        ),
        ({"--tumor-roi": "nope"}, "--tumor-roi: ['nope'] is not allowed"),
        ({"--v-thresholds-gy": "-5"}, "--v-thresholds-gy"),
        ({"--eud-alpha-per-gy": "0"}, "--eud-alpha-per-gy: '0' is not allowed"),
        (
            {"--eud-alpha-per-gy": "1e308"},
            "--eud-alpha-per-gy: '1e308' is not allowed; expected a number <= 1.0",
        ),
        ({"--energy-j-per-gbq": "500"}, "--energy-j-per-gbq"),
        # an empty path is not the current folder
        ({"--spect": ""}, "--spect: '' is not allowed; expected a file or folder name"),
        ({"--rois": ""}, "--rois: '' is not allowed; expected a file or folder name"),
        ({"--ct": ""}, "--ct: '' is not allowed; expected a file or folder name"),
        ({"--out": ""}, "--out: '' is not allowed; expected a file or folder name"),
        ({"--hu-density-curve": ""}, "--hu-density-curve: '' is not allowed; expected a file"),
    ],
)
def test_bad_inputs_one_line(
    phantom: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    expected: str,
) -> None:
    options = {
        "--spect": str(phantom["spect"]),
        "--rois": str(phantom["rois"]),
        "--activity-gbq": "3",
        "--out": str(tmp_path / "out"),
    }
    options.update(change)
    argv = ["voxel", "--no-png"]
    for key, value in options.items():
        argv += [key, value]
    code, stdout, stderr = _run(argv, capsys)
    assert code == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert expected in lines[0]
    assert "Traceback" not in stderr
    assert not (tmp_path / "out").exists()  # a refused run leaves no (empty) folder


def test_refused_overwrite_keeps_the_previous_run(
    phantom: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["voxel", "--spect", str(phantom["spect"]), "--rois", str(phantom["rois"])]
    argv += ["--method", "ldm", "--no-png", "--out", str(out), "--activity-gbq"]
    assert _run([*argv, "3"], capsys)[0] == 0
    before = sorted(p.name for p in out.rglob("*"))
    code, _, stderr = _run([*argv, "300", "--overwrite"], capsys)
    assert code == 2 and "--activity-gbq" in stderr
    assert sorted(p.name for p in out.rglob("*")) == before


@pytest.mark.parametrize("option", ["--planned", "--delivered"])
def test_compare_refuses_an_empty_folder_name(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = {"--planned": str(tmp_path), "--delivered": str(tmp_path), option: ""}
    code, _, stderr = _run(["compare", *(x for kv in folders.items() for x in kv)], capsys)
    assert code == 2
    assert f"{option}: '' is not allowed; expected a file or folder name" in stderr


def test_error_about_a_computed_quantity_names_no_option(
    phantom: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only real options are shown as ``--name``: ``dose_gy`` is not an option of voxel."""

    def failing(*args: object, **kwargs: object) -> None:
        raise InputError("dose_gy", "3 NaN or infinite voxel(s)", "finite values only")

    monkeypatch.setattr(cli_voxel, "voxel_dose", failing)
    argv = ["voxel", "--spect", str(phantom["spect"]), "--rois", str(phantom["rois"])]
    code, _, stderr = _run([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert stderr == (
        "y90dose voxel: error: dose_gy: '3 NaN or infinite voxel(s)' is not allowed; "
        "expected finite values only\n"
    )


def test_voi_outside_and_mismatched_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = make_sphere_study(tmp_path / "a")
    other = make_sphere_study(tmp_path / "b", uid_seed="another-patient", write_nm=False)
    code, _, stderr = _run(
        [
            "voxel",
            "--spect", str(study.spect_folder),
            "--ct", str(other.ct_folder),
            "--rois", str(study.rtstruct_path),
            "--out", str(tmp_path / "o1"),
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "FrameOfReferenceUID" in stderr and "--ct" in stderr
    code, _, stderr = _run(
        [
            "voxel",
            "--spect", str(study.spect_folder),
            "--rois", str(other.rtstruct_path),
            "--out", str(tmp_path / "o2"),
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "FrameOfReferenceUID" in stderr
    # a label map whose VOI lies beyond the SPECT
    labels = np.zeros((60, 60, 60), np.uint8)
    labels[50:55, 50:55, 50:55] = 1
    outside = _write(labels, tmp_path / "outside.nii.gz", spacing_mm=4.0)
    code, _, stderr = _run(
        [
            "voxel",
            "--spect", str(study.spect_folder),
            "--rois", str(outside),
            "--roi-names", '{"1": "liver"}',
            "--out", str(tmp_path / "o3"),
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and "outside" in stderr and len(stderr.strip().splitlines()) == 1


def test_out_folder_is_not_overwritten(
    phantom: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code, _, stderr = _run(
        [
            "voxel",
            "--spect", str(phantom["spect"]),
            "--rois", str(phantom["rois"]),
            "--activity-gbq", "1",
            "--out", str(tmp_path / "busy"),
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--out" in stderr
    assert "(or a previous run's folder, with --overwrite)" in stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_plan_from_images_cli(phantom: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = _run(
        [
            "plan", "from-images",
            "--spect", str(phantom["spect"]),
            "--rois", str(phantom["rois"]),
            "--liver-roi", "liver",
            "--tumor-roi", "tumor1",
            "--normal-dose-gy", "40",
            "--lsf", "0.05",
            "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["measured"]["tn_ratios"]["tumor1"] == pytest.approx(5.0)
    assert data["plan"]["doses_gy"]["tumor"] == pytest.approx(200.0)
    code, _, stderr = _run(
        [
            "plan", "from-images",
            "--spect", str(phantom["spect"]),
            "--rois", str(phantom["rois"]),
            "--liver-roi", "liver",
            "--tumor-roi", "tumor1",
            "--normal-dose-gy", "40",
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert stderr.strip().endswith(
        "--lsf: missing is not allowed; expected a lung shunt fraction 0..1, or --lung-roi "
        "to measure it"
    )
    code, _, stderr = _run(
        [
            "plan", "from-images",
            "--spect", str(phantom["spect"]),
            "--rois", str(phantom["rois"]),
            "--liver-roi", "liver",
            "--tumor-roi", "tumor9",
            "--normal-dose-gy", "40",
            "--lsf", "0.05",
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and "error: --tumor-roi: ['tumor9'] is not allowed" in stderr


def test_library_errors_name_fields_and_the_cli_its_options(
    phantom: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same refusals from Python name the arguments; the commands show their options."""
    from y90dose.pipeline import compare_runs, plan_from_images
    from y90dose.pipeline.outputs import check_out_dir

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    refusals: list[InputError | cli_main.ImageError] = []
    with pytest.raises(InputError) as busy:
        check_out_dir(tmp_path / "busy")
    refusals.append(busy.value)
    with pytest.raises(InputError) as no_lsf:
        plan_from_images(phantom["spect"], phantom["rois"], liver_roi="liver", tumor_rois=["t"])
    refusals.append(no_lsf.value)
    assert (busy.value.field, no_lsf.value.field) == ("out", "lsf")
    assert "with overwrite)" in str(busy.value) and "or lung_roi to measure" in str(no_lsf.value)
    # the other frame of reference: the library asks for transform, compare for --transform
    out = tmp_path / "run"
    argv = ["voxel", "--spect", str(phantom["spect"]), "--rois", str(phantom["rois"])]
    assert _run([*argv, "--activity-gbq", "1", "--no-png", "--out", str(out)], capsys)[0] == 0
    runs = []
    for frame in ("1.2.3.4", "1.2.3.5"):
        shutil.copytree(out, tmp_path / frame)
        summary = json.loads((tmp_path / frame / "metrics.json").read_text())
        summary["dose_grid"]["frame_of_reference_uid"] = frame
        (tmp_path / frame / "metrics.json").write_text(json.dumps(summary))
        runs.append(str(tmp_path / frame))
    with pytest.raises(cli_main.ImageError) as other_frame:
        compare_runs(*runs)
    assert other_frame.value.field == "transform"
    refusals.append(other_frame.value)
    for error in refusals:
        assert "--" not in str(error), error
    code, _, stderr = _run(["compare", "--planned", runs[0], "--delivered", runs[1]], capsys)
    assert code == 2
    assert f"error: --transform is needed: the planned run {runs[0]} (FrameOfReferenceUID" in stderr


def test_field_names_in_paths_and_values_stay_as_they_are() -> None:
    """Only a field named in the text becomes an option: not a folder or a VOI of that name."""
    names = {"lung_roi": "--lung-roi"}
    text = "no VOI 'lung_roi' in /data/lung_roi/rs.dcm; give lung_roi, or lsf"
    assert cli_main._with_options(text, names) == (
        "no VOI 'lung_roi' in /data/lung_roi/rs.dcm; give --lung-roi, or lsf"
    )


def test_progress_only_on_a_terminal() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    pipe, tty = io.StringIO(), Tty()
    TerminalProgress(pipe)(0.5, "dose")
    bar = TerminalProgress(tty)
    bar(0.5, "dose")
    bar(1.0, "done")
    assert pipe.getvalue() == ""
    assert "50 %" in tty.getvalue() and tty.getvalue().endswith("\n")


def test_unreadable_dicom_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    # a DICOM preamble followed by garbage: pydicom warns, the command prints one line
    (folder / "x.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 10)
    code, stdout, stderr = _run(
        [
            "voxel",
            "--spect", str(folder),
            "--rois", str(folder / "x.dcm"),
            "--activity-gbq", "1",
            "--out", str(tmp_path / "out"),
        ],
        capsys,
    )  # fmt: skip
    assert code == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "x.dcm" in stderr


def test_truncated_nifti_is_refused_not_read_as_zeros(
    phantom: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.nii.gz"
    whole = phantom["spect"].read_bytes()
    cut.write_bytes(whole[: int(len(whole) * 0.9)])  # ITK alone reads the rest as zeros
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        [
            "voxel",
            "--spect", str(cut),
            "--rois", str(phantom["rois"]),
            "--activity-gbq", "3",
            "--out", str(out),
        ],
        capsys,
    )  # fmt: skip
    assert code == 2, stderr
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert str(cut) in stderr and "truncated or corrupt" in stderr
    assert not out.exists() or not any(out.iterdir())


def _run_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process: a C++ abort there must not take pytest down with it."""
    return subprocess.run(
        [sys.executable, "-m", "y90dose.cli.main", *argv],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_non_utf8_names_are_refused_not_aborted(phantom: dict[str, Path], tmp_path: Path) -> None:
    """SimpleITK aborts the process (exit 134) on a file name that is not UTF-8."""
    odd = tmp_path / os.fsdecode(b"spect-\xff.nii.gz")
    shutil.copy(phantom["spect"], odd)
    common = ["--rois", str(phantom["rois"]), "--activity-gbq", "3", "--no-png"]
    done = _run_process("voxel", "--spect", str(odd), *common, "--out", str(tmp_path / "o1"))
    assert done.returncode == 2, done.stderr
    assert "spect-\\xff.nii.gz" in done.stderr and "UTF-8" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    out = tmp_path / os.fsdecode(b"out-\xfe")
    done = _run_process("voxel", "--spect", str(phantom["spect"]), *common, "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "--out" in done.stderr and "UTF-8" in done.stderr
    assert not out.exists()  # refused before anything is written
