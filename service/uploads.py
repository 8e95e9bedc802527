"""Unpack and check an uploaded study zip: limits, safe paths, readable files.

Refusals: more entries than ``upload_max_files`` or more bytes (compressed or
unpacked) than ``upload_max_bytes`` -> 413; an entry with an absolute path, a drive
letter, a ``..`` component or a symbolic link, an encrypted, corrupt or unknown-method
entry, a name that is also a folder of other entries or too long for the file system
-> 422 naming the entry; a file that is neither NIfTI, JSON nor readable DICOM -> 422
naming the file.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import IO, Any

from service.jobs import hide_paths
from service.problems import InvalidInputError, ProblemError, field_error
from service.schemas.common import unpaired_surrogate

NIFTI_SUFFIXES = (".nii", ".nii.gz")
MANIFEST_NAME = "study.json"
NAMES_NAME = "names.json"
IGNORED_PARTS = ("__MACOSX",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db")
LABEL_HINTS = ("label", "mask", "seg", "voi", "roi")
COPY_CHUNK_BYTES = 1024 * 1024
ZIP_ENCRYPTED_FLAG = 0x1
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
"""Compression methods Python's zipfile reads; anything else cannot be unpacked."""


def too_large(detail: str) -> ProblemError:
    """413 with ``detail``."""
    return ProblemError(413, "too-large", detail)


def _bad_entry(name: str, allowed: str) -> InvalidInputError:
    return InvalidInputError([field_error("file", name, allowed)])


def safe_member_path(name: str) -> PurePosixPath:
    """The relative path of a zip entry, or InvalidInputError if it could escape."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        raise _bad_entry(name, "zip entries with relative paths (no leading '/' or drive letter)")
    parts = [p for p in normal.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _bad_entry(name, "zip entries without '..' path components")
    if not parts:
        raise _bad_entry(name, "zip entries with a file name")
    return PurePosixPath(*parts)


def _is_nifti(path: PurePosixPath) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def unpack(
    archive: IO[bytes], target: Path, *, max_files: int, max_bytes: int
) -> list[PurePosixPath]:
    """Check every entry of ``archive`` first, then unpack it into ``target``."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInputError(
            [field_error("file", "the uploaded file", f"a zip archive ({exc})")]
        ) from None
    with zf:
        members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        total_bytes = 0
        for info in zf.infolist():
            path = safe_member_path(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _bad_entry(info.filename, "regular files (no symbolic links)")
            if info.is_dir() or path.name in IGNORED_NAMES or path.parts[0] in IGNORED_PARTS:
                continue
            if info.flag_bits & ZIP_ENCRYPTED_FLAG:
                raise _bad_entry(info.filename, "entries without encryption (no password)")
            if info.compress_type not in ZIP_METHODS:
                raise _bad_entry(
                    info.filename, "entries stored or compressed with deflate, bzip2 or LZMA"
                )
            members.append((info, path))
            total_bytes += info.file_size
        if len(members) > max_files:
            raise too_large(f"the zip holds {len(members)} files; at most {max_files} accepted")
        if total_bytes > max_bytes:
            raise too_large(
                f"the zip unpacks to {total_bytes} bytes; at most {max_bytes} bytes accepted"
            )
        if not members:
            raise _bad_entry("the uploaded zip", "a zip with at least one file")
        seen: set[str] = set()
        folders = {parent.as_posix().lower() for _, path in members for parent in path.parents}
        written = 0
        for info, path in members:
            key = path.as_posix().lower()
            if key in seen:
                raise _bad_entry(info.filename, "one entry per file name")
            if key in folders:
                raise _bad_entry(info.filename, "a name that is not also a folder of other entries")
            seen.add(key)
            destination = target.joinpath(*path.parts)
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, destination.open("wb") as sink:
                    while chunk := source.read(COPY_CHUNK_BYTES):
                        written += len(chunk)
                        if written > max_bytes:  # sizes in the zip directory can lie
                            raise too_large(f"the zip unpacks to more than {max_bytes} bytes")
                        sink.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise _bad_entry(info.filename, f"an intact zip entry ({exc})") from None
            except OSError as exc:  # a name too long or otherwise unusable on this system
                raise _bad_entry(
                    info.filename, f"a file name this server can store ({exc.strerror})"
                ) from None
    return [path for _, path in members]


def _read_json(root: Path, path: PurePosixPath) -> Any:
    try:
        return json.loads(root.joinpath(*path.parts).read_text("utf-8"))
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
        raise _bad_entry(path.as_posix(), f"valid UTF-8 JSON ({exc})") from None


def parse_names(data: Any, where: str) -> dict[str, str]:
    """Label names ``{"1": "liver", "2": "tumor 1"}``: integer labels > 0 to text."""
    allowed = 'a JSON object of label value to name, e.g. {"1": "liver", "2": "tumor"}'
    if not isinstance(data, dict):
        raise InvalidInputError([field_error(where, data, allowed)])
    bad = unpaired_surrogate(data, where)
    if bad is not None:
        raise InvalidInputError([field_error(bad, "(unpaired surrogate)", "valid Unicode text")])
    names: dict[str, str] = {}
    for key, value in data.items():
        try:
            label = int(key)
        except (TypeError, ValueError):
            raise InvalidInputError([field_error(f"{where}.{key}", key, allowed)]) from None
        if label <= 0 or not isinstance(value, str) or not value.strip():
            raise InvalidInputError(
                [field_error(f"{where}.{key}", value, "a non-empty name for a label > 0")]
            )
        if value.strip() in names.values():
            raise InvalidInputError(
                [field_error(f"{where}.{key}", value, "a different name for each label")]
            )
        names[str(label)] = value.strip()
    return names


def _dicom_summary(root: Path, paths: list[PurePosixPath]) -> list[dict[str, Any]]:
    from pydicom import dcmread

    series: Counter[tuple[str, str]] = Counter()
    for path in paths:
        try:
            ds = dcmread(root.joinpath(*path.parts), stop_before_pixels=True)
            # elements are decoded when read, so a corrupt one fails here, not in dcmread
            found = (str(ds.get("Modality", "")), str(ds.get("SeriesInstanceUID", "")))
        except Exception as exc:  # any failure of the parser on untrusted bytes
            raise _bad_entry(
                path.as_posix(),
                f"a readable DICOM file, a NIfTI file ({', '.join(NIFTI_SUFFIXES)}), "
                f"{MANIFEST_NAME} or {NAMES_NAME}; DICOM reading said: "
                f"{type(exc).__name__}: {exc}",
            ) from None
        series[found] += 1
    return [
        {"modality": modality, "series_instance_uid": uid, "files": count}
        for (modality, uid), count in sorted(series.items())
    ]


def _nifti_header(root: Path, path: PurePosixPath) -> dict[str, Any]:
    import SimpleITK as sitk  # noqa: N813 - the name SimpleITK documents

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(root.joinpath(*path.parts)))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise _bad_entry(path.as_posix(), f"a readable NIfTI image ({message})") from None
    return {
        "path": path.as_posix(),
        "size_voxels": list(reader.GetSize()),
        "spacing_mm": [float(s) for s in reader.GetSpacing()],
    }


def describe_study(
    root: Path, paths: list[PurePosixPath], names_field: str | None
) -> tuple[str, dict[str, Any]]:
    """The study's kind and summary; refuses what voxel dosimetry could not use."""
    manifest: dict[str, Any] = {}
    names: dict[str, str] = {}
    nifti: list[PurePosixPath] = []
    dicom: list[PurePosixPath] = []
    for path in paths:
        lower = path.name.lower()
        if len(path.parts) == 1 and lower == MANIFEST_NAME:
            loaded = _read_json(root, path)
            if not isinstance(loaded, dict):
                raise _bad_entry(MANIFEST_NAME, 'a JSON object {"image": ..., "labels": ...}')
            manifest = loaded
        elif len(path.parts) == 1 and lower == NAMES_NAME:
            names = parse_names(_read_json(root, path), NAMES_NAME)
        elif _is_nifti(path):
            nifti.append(path)
        else:
            dicom.append(path)
    if names_field is not None:
        try:
            names = parse_names(json.loads(names_field), "names")
        except (ValueError, RecursionError):
            raise InvalidInputError(
                [field_error("names", names_field, "a JSON object of label value to name")]
            ) from None
        # the dose job reads names.json beside the images: the form field replaces it
        (root / NAMES_NAME).write_text(json.dumps(names), encoding="utf-8")
    summary: dict[str, Any] = {"names": names}
    labels = _pick(
        manifest, "labels", nifti, lambda p: any(h in p.name.lower() for h in LABEL_HINTS)
    )
    if dicom:
        summary["series"] = _dicom_summary(root, dicom)
        if labels is not None:
            summary["labels"] = _nifti_header(root, labels)
        return "dicom", summary
    if not nifti:
        raise _bad_entry("the uploaded zip", "DICOM files, or a NIfTI image and label map")
    image = _pick(manifest, "image", [p for p in nifti if p != labels], lambda p: True)
    if image is None or labels is None:
        raise _bad_entry(
            "the uploaded zip",
            f"a NIfTI image and a NIfTI label map, told apart by {MANIFEST_NAME} "
            '({"image": "ct.nii.gz", "labels": "labels.nii.gz"}) or by a label map name '
            f"containing one of {', '.join(LABEL_HINTS)}",
        )
    summary["image"] = _nifti_header(root, image)
    summary["labels"] = _nifti_header(root, labels)
    if "ct" in manifest:
        ct = _pick(manifest, "ct", [p for p in nifti if p not in (image, labels)], bool)
        assert ct is not None
        summary["ct"] = _nifti_header(root, ct)
    return "nifti", summary


def dose_inputs(root: Path) -> dict[str, Any]:
    """What a dose job would use from the study folder, or why it could not run.

    Asks the pipeline's own :func:`y90dose.pipeline.find_study_inputs`, so the answer
    follows the same rules as the job. Paths are relative to the study folder.
    """
    from y90dose.errors import Y90DoseError

    try:
        from y90dose.pipeline import find_study_inputs
    except ImportError:
        return {"usable": None, "problem": "voxel dosimetry is not installed"}
    try:
        found = find_study_inputs(root)
    except Y90DoseError as exc:  # its message names the folder: not the server's path
        return {"usable": False, "problem": hide_paths(str(exc), {"<study>": root})}
    shown: dict[str, Any] = {"usable": True}
    for key, value in found.items():
        path = Path(value)
        shown[key] = path.relative_to(root).as_posix() if path.is_relative_to(root) else "."
    return shown


def _pick(
    manifest: dict[str, Any], key: str, candidates: list[PurePosixPath], hint: Any
) -> PurePosixPath | None:
    if key in manifest:
        wanted = manifest[key]
        for path in candidates:
            if path.as_posix() == wanted:
                return path
        raise InvalidInputError(
            [
                field_error(
                    f"{MANIFEST_NAME}.{key}",
                    wanted,
                    "the path of a NIfTI file in the zip: "
                    + (", ".join(p.as_posix() for p in candidates) or "none"),
                )
            ]
        )
    matches = [p for p in candidates if hint(p)]
    return matches[0] if len(matches) == 1 else None


MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Allowance for multipart boundaries and form fields on top of the zip itself."""


class UploadLimitMiddleware:
    """Refuse a request body past its limit before it is read (Content-Length) or while it
    streams (chunked), so that an oversized body never fills memory or disk; 413 either way.

    Study uploads may reach ``max_upload_bytes`` (plus the multipart framing); every
    other request body ``max_body_bytes``.
    """

    def __init__(
        self,
        app: Any,
        max_upload_bytes: int,
        max_body_bytes: int,
        upload_paths: tuple[str, ...] = ("/v1/studies",),
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_body_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        from starlette.exceptions import HTTPException

        from service.problems import problem_response

        if scope["path"].rstrip("/") in self.upload_paths:
            shown, limit = self.max_upload_bytes, self.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
            what = "upload"
        else:
            shown = limit = self.max_body_bytes
            what = "request body"
        detail = f"the {what} is larger than {shown} bytes, the limit"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await problem_response(413, "too-large", detail)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)
