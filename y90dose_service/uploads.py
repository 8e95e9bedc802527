"""Unpack and check an uploaded study zip: limits, safe paths, readable files.

Refusals: more entries than ``upload_max_files`` or more bytes (compressed or
unpacked) than ``upload_max_bytes``, an entry (or the whole zip) unpacking to more than
``upload_max_compression_ratio`` times its compressed size -> 413 (unpacking stops the
moment a limit is passed); an entry with an absolute path, a drive letter, a ``..``
component, more than ``upload_max_path_depth`` levels or a symbolic link, an encrypted,
corrupt or unknown-method entry, a name that is also a folder of other entries or too
long for the file system -> 422 naming the entry; a file that is neither NIfTI, JSON
nor whole, readable DICOM (:func:`y90dose.imaging.dicom_series.read_dicom_header`), an
image past ``image_max_voxels``, or an emission image (an NM or PT series, the NIfTI
``image``) past ``emission_max_voxels`` (from its header) -> 422 naming the file.
"""

from __future__ import annotations

import asyncio
import json
import re
import stat
import zipfile
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

from starlette.exceptions import HTTPException

from y90dose.errors import ImageError
from y90dose.limits import (
    DEFAULT_MAX_EMISSION_VOXELS,
    DEFAULT_MAX_VOXELS,
    ZIP_MAX_COMPRESSION_RATIO,
    ZIP_MAX_PATH_DEPTH,
    ZIP_RATIO_GRACE_BYTES,
    emission_voxel_limit,
    reading_emission,
    voxel_limit,
)
from y90dose_service.jobs import hide_paths
from y90dose_service.problems import (
    InvalidInputError,
    ProblemError,
    field_error,
    problem_response,
)
from y90dose_service.schemas.common import unpaired_surrogate

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


def too_large(detail: str, entry: str | None = None, allowed: str | None = None) -> ProblemError:
    """413 with ``detail``; naming the zip ``entry`` (and what is ``allowed``) when given."""
    extra = None if entry is None else {"errors": [field_error("file", entry, allowed or detail)]}
    return ProblemError(413, "too-large", detail, extra)


def _bad_entry(name: str, allowed: str) -> InvalidInputError:
    return InvalidInputError([field_error("file", name, allowed)])


def safe_member_path(name: str, max_depth: int = ZIP_MAX_PATH_DEPTH) -> PurePosixPath:
    """The relative path of a zip entry, or InvalidInputError if it could escape or is
    nested more than ``max_depth`` levels (counted before anything is created)."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        raise _bad_entry(name, "zip entries with relative paths (no leading '/' or drive letter)")
    parts = [p for p in normal.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _bad_entry(name, "zip entries without '..' path components")
    if not parts:
        raise _bad_entry(name, "zip entries with a file name")
    if len(parts) > max_depth:
        raise _bad_entry(
            name[:200] + ("..." if len(name) > 200 else ""),
            f"zip entries at most {max_depth} levels deep (this one has {len(parts)})",
        )
    return PurePosixPath(*parts)


def _is_nifti(path: PurePosixPath) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _ratio_refusal(entry: str, unpacked: int, packed: int, max_ratio: float) -> ProblemError:
    allowed = (
        f"entries unpacking to at most {max_ratio:g} times their compressed size (entries "
        f"of up to {ZIP_RATIO_GRACE_BYTES} bytes excepted); gzip highly compressible "
        "images (.nii.gz) before zipping"
    )
    return too_large(
        f"zip entry {entry!r} unpacks to at least {unpacked} bytes from {packed} compressed: "
        f"more than {max_ratio:g} : 1, the limit (a zip bomb?)",
        entry,
        allowed,
    )


def _archive_size(archive: IO[bytes]) -> int:
    position = archive.tell()
    size = archive.seek(0, 2)
    archive.seek(position)
    return size


def unpack(
    archive: IO[bytes],
    target: Path,
    *,
    max_files: int,
    max_bytes: int,
    max_ratio: float = ZIP_MAX_COMPRESSION_RATIO,
    max_depth: int = ZIP_MAX_PATH_DEPTH,
) -> list[PurePosixPath]:
    """Check every entry of ``archive`` first, then unpack it into ``target``.

    The sizes in the zip directory are checked first; while unpacking, the bytes
    written count against ``max_bytes``, ``max_ratio`` x each entry's compressed size and
    ``max_ratio`` x the archive's size, and unpacking stops at the first byte past one.
    """
    archive_bytes = _archive_size(archive)
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
            path = safe_member_path(info.filename, max_depth)
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
            if info.file_size > max(ZIP_RATIO_GRACE_BYTES, max_ratio * info.compress_size):
                raise _ratio_refusal(info.filename, info.file_size, info.compress_size, max_ratio)
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
        archive_allowance = max(ZIP_RATIO_GRACE_BYTES, max_ratio * archive_bytes)
        for info, path in members:
            # compress_size may lie too: at most what the archive holds is compressed data
            entry_allowance = max(
                ZIP_RATIO_GRACE_BYTES, max_ratio * min(info.compress_size, archive_bytes)
            )
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
                    entry_written = 0
                    while chunk := source.read(COPY_CHUNK_BYTES):
                        written += len(chunk)
                        entry_written += len(chunk)
                        if written > max_bytes:  # sizes in the zip directory can lie
                            raise too_large(
                                f"the zip unpacks to more than {max_bytes} bytes, the limit",
                                info.filename,
                                f"a zip unpacking to at most {max_bytes} bytes",
                            )
                        if entry_written > entry_allowance:
                            raise _ratio_refusal(
                                info.filename, entry_written, info.compress_size, max_ratio
                            )
                        if written > archive_allowance:
                            raise too_large(
                                f"the zip unpacks to more than {written} bytes from "
                                f"{archive_bytes}: more than {max_ratio:g} : 1, the limit",
                                info.filename,
                                f"a zip unpacking to at most {max_ratio:g} times its size",
                            )
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


def _image_error(root: Path, path: PurePosixPath, exc: ImageError, allowed: str) -> Exception:
    """422 naming the entry, with the reader's message (server paths replaced by it)."""
    full = root.joinpath(*path.parts)
    said = hide_paths(str(exc), {path.as_posix(): full, "<study>": root})
    return _bad_entry(path.as_posix(), f"{allowed}; reading it said: {said}")


def _dicom_summary(
    root: Path, paths: list[PurePosixPath], max_voxels: int, max_emission_voxels: int
) -> list[dict[str, Any]]:
    from y90dose.imaging.dicom_series import pixel_data_bytes, read_dicom_header
    from y90dose.pipeline.inputs import EMISSION_MODALITIES

    series: Counter[tuple[str, str]] = Counter()
    voxels: Counter[tuple[str, str]] = Counter()
    first_file: dict[tuple[str, str], PurePosixPath] = {}
    for path in paths:
        full = root.joinpath(*path.parts)
        try:
            # header only; the instance's attributes and pixel data length are checked
            ds = read_dicom_header(full)
            found = (str(ds.Modality), str(ds.SeriesInstanceUID))
            if "Rows" in ds:  # Rows x Columns x frames: the header's pixel count
                voxels[found] += pixel_data_bytes(ds, full, bits_per_sample=8)
        except ImageError as exc:
            raise _image_error(
                root,
                path,
                exc,
                f"a whole, readable DICOM file, a NIfTI file ({', '.join(NIFTI_SUFFIXES)}), "
                f"{MANIFEST_NAME} or {NAMES_NAME}",
            ) from None
        series[found] += 1
        first_file.setdefault(found, path)
    for key, count in voxels.items():
        if count > max_voxels:
            raise _bad_entry(
                first_file[key].as_posix(),
                f"series of at most {max_voxels} voxels (image_max_voxels); {key[0]} series "
                f"{key[1]} holds {count} voxels (Rows x Columns x frames over its files)",
            )
        if key[0] in EMISSION_MODALITIES and count > max_emission_voxels:
            raise _bad_entry(
                first_file[key].as_posix(),
                f"an emission (NM or PT) series of at most {max_emission_voxels} voxels "
                f"(emission_max_voxels: a dose job needs about 57 bytes per emission voxel); "
                f"{key[0]} series {key[1]} holds {count} voxels (Rows x Columns x frames over "
                "its files); the service's administrator can raise Y90DOSE_EMISSION_MAX_VOXELS",
            )
    return [
        {"modality": modality, "series_instance_uid": uid, "files": count}
        for (modality, uid), count in sorted(series.items())
    ]


def _nifti_header(
    root: Path, path: PurePosixPath, max_voxels: int, max_emission_voxels: int | None = None
) -> dict[str, Any]:
    """The header's size and spacing; ``max_emission_voxels`` given: the emission image."""
    from contextlib import nullcontext

    from y90dose.imaging.read import read_sitk_header

    emission = max_emission_voxels is not None
    allowed = "a readable NIfTI image"
    if emission:
        allowed += (
            f" of at most {max_emission_voxels} voxels as the emission image "
            "(emission_max_voxels; the administrator can raise Y90DOSE_EMISSION_MAX_VOXELS)"
        )
    try:
        with (
            voxel_limit(max_voxels),
            emission_voxel_limit(max_emission_voxels),
            reading_emission() if emission else nullcontext(),
        ):
            reader = read_sitk_header(root.joinpath(*path.parts))
    except ImageError as exc:
        raise _image_error(root, path, exc, allowed) from None
    return {
        "path": path.as_posix(),
        "size_voxels": list(reader.GetSize()),
        "spacing_mm": [float(s) for s in reader.GetSpacing()],
    }


def describe_study(
    root: Path,
    paths: list[PurePosixPath],
    names_field: str | None,
    *,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    max_emission_voxels: int = DEFAULT_MAX_EMISSION_VOXELS,
) -> tuple[str, dict[str, Any]]:
    """The study's kind and summary; refuses what voxel dosimetry could not use, images
    of more than ``max_voxels`` and emission images (NM/PT series, the NIfTI ``image``) of
    more than ``max_emission_voxels`` (from their headers, before any pixel is read)."""
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
        summary["series"] = _dicom_summary(root, dicom, max_voxels, max_emission_voxels)
        if labels is not None:
            summary["labels"] = _nifti_header(root, labels, max_voxels)
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
    summary["image"] = _nifti_header(root, image, max_voxels, max_emission_voxels)
    summary["labels"] = _nifti_header(root, labels, max_voxels)
    if "ct" in manifest:
        ct = _pick(manifest, "ct", [p for p in nifti if p not in (image, labels)], bool)
        assert ct is not None
        summary["ct"] = _nifti_header(root, ct, max_voxels)
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
    for key, value in found.to_dict().items():
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


UPLOAD_RETRY_AFTER_S = 10
"""``Retry-After`` (seconds) of a 429 for an upload past ``upload_max_concurrent``: about
the time a 100 MB study takes to unpack and check on one core."""


RefusalCheck = Callable[[Any], Awaitable[Any]]
"""``check(scope)``: None to let an upload in, else the response that refuses it."""


class UploadLimitMiddleware:
    """Refuse a request body past its limit before it is read (Content-Length) or while it
    streams (chunked), so that an oversized body never fills memory or disk; 413 either way.

    Study uploads (``upload_paths``: the API's, and the web page's) may reach
    ``max_upload_bytes`` (plus the multipart framing); every
    other request body ``max_body_bytes``. At most ``max_concurrent_uploads`` uploads are
    received and unpacked at once, and a slot goes only to a planner: the API key is
    checked first (the same check and key cache as ``PlannerDep``: 401 without a valid
    key, 403 below planner), then one upload past the limit gets 429 with
    ``Retry-After``, both before the body is read. A path of ``refusals`` has its own
    check instead of the API key's (the web page's: its session, CSRF token and role).
    An upload whose client sends nothing for ``body_idle_timeout_s`` is dropped with 408
    and its slot freed, so a stalled client cannot hold a slot.
    """

    def __init__(
        self,
        app: Any,
        max_upload_bytes: int,
        max_body_bytes: int,
        upload_paths: tuple[str, ...] = ("/v1/studies",),
        max_concurrent_uploads: int | None = None,
        body_idle_timeout_s: float | None = None,
        refusals: Mapping[str, RefusalCheck] | None = None,
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_body_bytes
        self.upload_paths = upload_paths
        self.refusals = dict(refusals or {})
        self.max_concurrent_uploads = max_concurrent_uploads
        self.body_idle_timeout_s = body_idle_timeout_s
        self.uploads_in_progress = 0  # changed only on the event loop: no lock needed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = scope["path"].rstrip("/") in self.upload_paths
        if upload:
            shown, limit = self.max_upload_bytes, self.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
            what = "upload"
        else:
            shown = limit = self.max_body_bytes
            what = "request body"
        detail = f"the {what} is larger than {shown} bytes, the limit"
        sized = chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit():
                if int(value) > limit:
                    await problem_response(413, "too-large", detail)(scope, receive, send)
                    return
                sized = True
            elif name == b"transfer-encoding":
                chunked = True
        if sized and not chunked and not upload:
            # the server reads exactly Content-Length bytes of body, within the limit
            await self.app(scope, receive, send)
            return
        received = 0
        idle_timeout_s = self.body_idle_timeout_s if upload else None

        async def limited_receive() -> Any:
            nonlocal received
            if idle_timeout_s is None:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), idle_timeout_s)
                except TimeoutError:
                    raise HTTPException(
                        408,
                        f"the upload sent nothing for {idle_timeout_s:g} s "
                        "(upload_idle_timeout_seconds); send the body without pausing",
                    ) from None
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)
            return message

        if not upload or self.max_concurrent_uploads is None:
            await self.app(scope, limited_receive, send)
            return
        refusal = await self.refusals.get(scope["path"].rstrip("/"), _planner_refusal)(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if self.uploads_in_progress >= self.max_concurrent_uploads:
            await problem_response(
                429,
                "too-many-uploads",
                f"{self.uploads_in_progress} uploads are being received or unpacked, the "
                f"limit (upload_max_concurrent); retry in {UPLOAD_RETRY_AFTER_S} s",
                headers={"Retry-After": str(UPLOAD_RETRY_AFTER_S)},
            )(scope, receive, send)
            return
        self.uploads_in_progress += 1
        try:
            await self.app(scope, limited_receive, send)
        finally:
            self.uploads_in_progress -= 1


async def _planner_refusal(scope: Any) -> Any:
    """None when the request's key belongs to a planner (or higher), else the 401/403
    problem response to send (the caller check of ``PlannerDep``, on the key cache)."""
    from starlette.requests import Request

    from y90dose_service.deps import require
    from y90dose_service.problems import ProblemError, problem_response
    from y90dose_service.security import Role

    try:
        await require(Role.PLANNER)(Request(scope))
    except ProblemError as exc:
        return problem_response(exc.status, exc.kind, exc.detail, exc.extra, exc.headers)
    return None
