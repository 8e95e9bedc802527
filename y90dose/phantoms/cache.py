"""On-demand phantom folders in a cache directory.

``phantom_dir(name)`` returns a folder holding the exported phantom (DICOM, NIfTI,
``known_answers.json``), generating it when missing or when the generator version or
parameters changed. The cache root is ``$Y90DOSE_PHANTOM_CACHE``, else
``$Y90DOSE_CACHE_DIR/phantoms`` (the y90dose cache, shared with the kernels), else
``~/.cache/y90dose/phantoms``. Generation is deterministic (seeded), so a cached folder and
a fresh one hold the same data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from y90dose.phantoms.base import GENERATOR_VERSION


def cache_root() -> Path:
    """The cache directory (created on use)."""
    override = os.environ.get("Y90DOSE_PHANTOM_CACHE")
    if override:
        return Path(override).expanduser()
    shared = os.environ.get("Y90DOSE_CACHE_DIR")
    if shared:
        return Path(shared).expanduser() / "phantoms"
    return Path.home() / ".cache" / "y90dose" / "phantoms"


def _key(name: str, parameters: dict[str, Any]) -> str:
    text = json.dumps({"name": name, "v": GENERATOR_VERSION, **parameters}, sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def phantom_dir(
    name: str, *, root: Path | None = None, refresh: bool = False, **parameters: Any
) -> Path:
    """Folder of phantom ``name`` (generated into the cache when needed).

    Parameters
    ----------
    name
        Generator name (``python -m phantoms list``).
    root
        Cache directory (default :func:`cache_root`).
    refresh
        Regenerate even when a complete folder exists.
    parameters
        Generator parameters (defaults when omitted).
    """
    from y90dose.phantoms.export import export_phantom
    from y90dose.phantoms.generators import generate

    folder = (root or cache_root()) / _key(name, parameters)
    complete = (folder / "files.json").is_file() and (folder / "known_answers.json").is_file()
    if complete and not refresh:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    export_phantom(generate(name, **parameters), tmp)
    tmp.rename(folder)
    return folder
