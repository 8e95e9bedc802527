"""``y90dose register``: files in, a transform file and a quality figure out, or a refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.cli.main import main
from y90dose.imaging import Grid, Image, write_image_file
from y90dose.phantoms.ct_anatomy import ct_image, rigid_mapping

GRID = Grid((30, 36, 48), (-188.0, -140.0, -116.0), (8.0, 8.0, 8.0))
SHIFT_MM = (10.0, 0.0, -5.0)
"""moving(q) = anatomy(q + SHIFT): the fixed point p is the moving point p - SHIFT."""


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("register")
    to_anatomy = rigid_mapping(sitk.TranslationTransform(3, SHIFT_MM))
    fixed = ct_image(GRID, seed=1)
    moving = ct_image(GRID, mapping=to_anatomy, seed=2)
    noise = np.random.default_rng(3).normal(0, 300, GRID.shape_zyx).astype(np.float32)
    paths = {
        "fixed": write_image_file(fixed, folder / "fixed.nii.gz"),
        "moving": write_image_file(moving, folder / "moving.nii.gz"),
        "noise": write_image_file(fixed.with_array(noise), folder / "noise.nii.gz"),
        "slice": write_image_file(
            Image(fixed.array[10:11], origin_mm=(0, 0, 0), spacing_mm=(8, 8, 8)),
            folder / "slice.nii.gz",
        ),
        "empty_mask": write_image_file(
            fixed.with_array(np.zeros(GRID.shape_zyx, np.float32)), folder / "empty.nii.gz"
        ),
    }
    return paths


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_register_json_writes_transform_and_figure(
    images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "moving_to_fixed.tfm"
    argv = ["register", "--fixed", str(images["fixed"]), "--moving", str(images["moving"])]
    code, stdout, stderr = _run([*argv, "--out", str(out), "--json"], capsys)
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["status"] == "succeeded"
    assert data["transform_file"] == str(out)
    assert data["quality_figure"] == str(tmp_path / "moving_to_fixed.png")
    assert set(data["iterations"]) == {"rigid"} and len(data["iterations"]["rigid"]) == 3
    assert data["metric"] < 0 and data["quality"]["nmi_final"] > 1.15
    # fixed point (0, 0, 0) is moving point (0, 0, 0) - SHIFT = (-10, 0, 5) mm
    transform = sitk.ReadTransform(str(out))
    assert np.allclose(transform.TransformPoint((0.0, 0.0, 0.0)), (-10.0, 0.0, 5.0), atol=1.0)
    assert Path(data["quality_figure"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run refuses to overwrite, unless asked
    code, _, stderr = _run([*argv, "--out", str(out)], capsys)
    assert code == 2 and "--out" in stderr and "--overwrite" in stderr
    code, stdout, _ = _run([*argv, "--out", str(out), "--overwrite"], capsys)
    assert code == 0 and "registration (rigid): succeeded" in stdout


def test_failed_registration_exits_1_and_writes_no_transform(
    images: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad.tfm"
    code, stdout, _ = _run(
        [
            "register",
            "--fixed", str(images["fixed"]),
            "--moving", str(images["noise"]),
            "--out", str(out),
            "--json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 1
    data = json.loads(stdout)
    assert data["status"] == "failed" and data["transform_file"] is None
    assert any("poor similarity" in f for f in data["failures"])
    assert not out.exists() and (tmp_path / "bad.png").exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--moving", "slice"], "--moving: 'an image of 48x36x1 voxels (x, y, z)' is not allowed"),
        (["--moving", "fixed", "--fixed-mask", "empty_mask"], "--fixed-mask:"),
        (["--moving", "fixed", "--out", "x.nii"], "--out: "),
        (["--moving", "missing"], "does not exist"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(
    extra: list[str],
    expected: str,
    images: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["register", "--fixed", str(images["fixed"])]
    for option, value in zip(extra[::2], extra[1::2], strict=True):
        path = images.get(value)
        argv += [option, str(path) if path is not None else str(tmp_path / value)]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "t.tfm")]
    code, _, stderr = _run(argv, capsys)
    assert code == 2
    assert expected in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t.tfm").exists()


def test_register_help_imports_no_imaging_stack() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom y90dose.cli.main import main\n"
            "try:\n    main(['register', '--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('SimpleITK', 'matplotlib', 'y90dose.imaging')\n"
            "       if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--fixed-mask" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
