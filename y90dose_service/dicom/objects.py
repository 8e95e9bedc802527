"""The DICOM objects a send of a dose job carries, made from the job's output folder.

- ``rtdose``: the RT Dose on the CT grid when the job had a CT (``rtdose_on_ct.dcm``),
  else on the emission grid (``rtdose.dcm``), with the RT Plan it references (the
  ``_plan.dcm`` beside it), so that the dose's ReferencedRTPlanSequence resolves;
- ``rtstruct``: an RT Structure Set of the VOIs the job used, the derived ones
  (``normal_liver``, ``tumors``) and isodose structures at the levels asked
  (:func:`y90dose.pipeline.structure_set.write_run_structure_set`), referencing the image
  the RT Dose references (the CT, else the emission image). Its UIDs derive from the
  send's id, so a retried send sends the same instance again, not a second one.

Only a study received or uploaded as DICOM can be sent: the objects must belong to the
patient's study and frame of reference.
"""

from __future__ import annotations

from pathlib import Path

from y90dose.errors import InputError

SEND_OBJECTS = ("rtdose", "rtstruct")
"""What ``objects`` of a send may name."""


def dose_file(job_dir: Path) -> Path:
    """The RT Dose a send carries (module docstring).

    Raises
    ------
    InputError
        (``objects``) The job wrote no RT Dose.
    """
    from y90dose.pipeline.outputs import RTDOSE, RTDOSE_ON_CT

    for name in (RTDOSE_ON_CT, RTDOSE):
        if (job_dir / name).is_file():
            return job_dir / name
    raise InputError("objects", "rtdose", "objects the dose job wrote (it has no RT Dose)")


def prepare(
    job_dir: Path,
    study_files: Path,
    objects: list[str],
    isodose_levels_gy: list[float],
    folder: Path,
    *,
    uid_seed: str,
) -> list[tuple[str, Path]]:
    """The files to send, ``(object, path)``; the structure set is written in ``folder``.

    Raises
    ------
    InputError, ImageError
        An object the job cannot give (named), an isodose level the dose does not reach.
    """
    from y90dose.imaging.read import read_image
    from y90dose.imaging.rtdose import plan_path
    from y90dose.pipeline.inputs import read_ct, read_emission_image
    from y90dose.pipeline.outputs import RTDOSE_ON_CT
    from y90dose.pipeline.structure_set import write_run_structure_set
    from y90dose.pipeline.study import find_study_inputs

    rtdose = dose_file(job_dir)
    files: list[tuple[str, Path]] = []
    if "rtdose" in objects:
        files.append(("rtdose", rtdose))
        if plan_path(rtdose).is_file():
            files.append(("rtplan", plan_path(rtdose)))
    if "rtstruct" in objects:
        found = find_study_inputs(study_files)
        if rtdose.name == RTDOSE_ON_CT:
            assert found.ct is not None, "a job with a dose on the CT grid read a CT"
            reference = read_ct(found.ct)
        else:
            reference = read_emission_image(found.spect)
        path = write_run_structure_set(
            job_dir,
            reference,
            folder / "rtstruct.dcm",
            dose_on_reference=read_image(rtdose) if isodose_levels_gy else None,
            isodose_levels_gy=isodose_levels_gy,
            uid_seed=uid_seed,
        )
        files.append(("rtstruct", path))
    return files
