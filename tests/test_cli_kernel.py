"""``y90dose kernel``: voxel S values on the command line.

Published values: Lanconelli 2012 Y-90 soft tissue S(0,0,0) = 0.573 and S(1,0,0) = 0.0763
mGy/(MBq s) at 4.8 mm.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from y90dose.cli.main import main

ENTRY = shutil.which("y90dose") or str(Path(sys.executable).with_name("y90dose"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("Y90DOSE_CACHE_DIR", str(tmp_path))
    yield


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["kernel", *args, "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_lanconelli_size_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "--voxel-size-mm", "4.8")
    assert data["source"] == "lanconelli"
    assert data["units"] == "mGy/(MBq s)"
    assert data["voxel_size_zyx_mm"] == [4.8, 4.8, 4.8]
    s = np.array(data["s_values"])
    assert s.shape == (6, 6, 6)
    assert s[0, 0, 0] == pytest.approx(0.573)
    assert s[1, 0, 0] == pytest.approx(0.0763)


def test_untabulated_size_uses_dpk(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "--voxel-size-mm", "4.42", "4.42", "4.42", "--tissue", "soft")
    assert data["source"] == "dpk"
    s = np.array(data["s_values"])
    assert s.shape == (5, 5, 5)  # offsets 0..ceil(10.58 / 4.42) + 1 = 4
    assert np.allclose(s, s.transpose(1, 0, 2), rtol=1e-12)  # cubic: axes interchangeable
    assert s[0, 0, 0] > s[1, 0, 0] > s[1, 1, 0] > s[1, 1, 1] > 0
    assert data["total_energy_mev_per_decay"] == pytest.approx(0.930, abs=0.001)


def test_anisotropic_and_forced_dpk(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "--voxel-size-mm", "2", "3", "4", "--source", "dpk")
    assert data["voxel_size_zyx_mm"] == [2.0, 3.0, 4.0]
    assert data["axis_order"] == ["z", "y", "x"]
    s = np.array(data["s_values"])
    assert s[1, 0, 0] > s[0, 1, 0] > s[0, 0, 1]


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kernel", "--voxel-size-mm", "3", "--tissue", "soft"]) == 0
    out = capsys.readouterr().out
    assert "S(0,0,0) = 1.59 mGy/(MBq s)" in out
    assert "lanconelli" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--voxel-size-mm", "4.42", "--source", "lanconelli"], "3 mm soft, 4.8 mm soft"),
        (["--voxel-size-mm", "4", "4"], "one number or three"),
        (["--voxel-size-mm", "0.1"], "--voxel-size-mm"),
        (["--voxel-size-mm", "6", "--tissue", "bone", "--source", "lanconelli"], "4.8 mm bone"),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["kernel", *args]) == 2
    assert message in capsys.readouterr().err


def test_bad_choice_is_rejected_by_argparse() -> None:
    with pytest.raises(SystemExit) as info:
        main(["kernel", "--voxel-size-mm", "4", "--tissue", "lung"])
    assert info.value.code == 2


@pytest.mark.skipif(not Path(ENTRY).exists(), reason="y90dose script not installed")
def test_through_the_installed_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [ENTRY, "kernel", "--voxel-size-mm", "6", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"Y90DOSE_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["s_values"][0][0][0] == pytest.approx(0.342)


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """``y90dose kernel ... --json | head -c 1``: a closed pipe is not an error to report."""
    process = subprocess.Popen(
        [sys.executable, "-m", "y90dose.cli.main", "kernel", "--voxel-size-mm", "0.5", "--json"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(1) == b"{"  # ~300 kB follow: more than a pipe buffer holds
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    assert stderr == ""


def test_a_refused_size_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    """The library names its argument (voxel_size_zyx_mm), the command its option."""
    from y90dose.errors import InputError
    from y90dose.voxel.kernels import voxel_kernel

    with pytest.raises(InputError) as refused:
        voxel_kernel(0.1)
    assert refused.value.field == "voxel_size_zyx_mm"
    assert main(["kernel", "--voxel-size-mm", "0.1"]) == 2
    assert capsys.readouterr().err.startswith(
        "y90dose kernel: error: --voxel-size-mm: (0.1, 0.1, 0.1) is not allowed"
    )
