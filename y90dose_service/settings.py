"""The service's settings: one pydantic-settings class, environment prefix ``Y90DOSE_``.

Every field can be set by an environment variable (``Y90DOSE_DATA_DIR``,
``Y90DOSE_DATABASE_URL``, ``Y90DOSE_UPLOAD_MAX_BYTES``, ...) or by keyword.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from y90dose.dicomnet.destinations import DEFAULT_AE_TITLE, Destination, check_ae_title
from y90dose.errors import InputError
from y90dose.limits import (
    DEFAULT_MAX_EMISSION_VOXELS,
    DEFAULT_MAX_VOXELS,
    ZIP_MAX_COMPRESSION_RATIO,
    ZIP_MAX_PATH_DEPTH,
)
from y90dose.settings import (
    DEFAULT_SETTINGS,
    ClinicalSettings,
    GlassSegmentectomyFloor,
    ResinSegmentectomyFloor,
)


def default_data_dir() -> Path:
    """``./data`` under the current directory (as README's ``python3 tasks.py serve``)."""
    return Path.cwd() / "data"


class ServiceSettings(BaseSettings):
    """Settings of the planning service.

    The default database is an SQLite file inside ``data_dir``; set ``database_url``
    (``postgresql+psycopg://user:password@host:5432/db``) to use PostgreSQL with the same code.
    """

    model_config = SettingsConfigDict(env_prefix="Y90DOSE_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory holding the SQLite database, uploaded studies and job results.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/y90dose.sqlite3.",
    )
    upload_max_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Largest study upload accepted (bytes, compressed and uncompressed); "
        "larger uploads get 413.",
    )
    request_max_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest JSON request body accepted (bytes); larger gets 413.",
    )
    upload_max_files: int = Field(
        default=10_000, gt=0, description="Most entries a study zip may hold; more gets 413."
    )
    # --- upload and image limits (defaults and why: y90dose/limits.py) ---
    upload_max_compression_ratio: float = Field(
        default=ZIP_MAX_COMPRESSION_RATIO,
        ge=1.0,
        description="Largest unpacked / compressed size of a zip entry over 1 MiB, and of "
        "the whole zip; more gets 413 and unpacking stops there (zip bombs).",
    )
    upload_max_path_depth: int = Field(
        default=ZIP_MAX_PATH_DEPTH,
        ge=1,
        description="Most folder levels of a zip entry's path; deeper gets 422.",
    )
    upload_max_concurrent: int = Field(
        default=4,
        ge=1,
        description="Uploads received and unpacked at once; one more gets 429 with "
        "Retry-After before its body is read.",
    )
    upload_idle_timeout_seconds: float = Field(
        default=30.0,
        gt=0.0,
        description="An upload whose client sends nothing for this long (seconds) is "
        "dropped with 408 and its upload slot freed.",
    )
    image_max_voxels: int = Field(
        default=DEFAULT_MAX_VOXELS,
        ge=1,
        description="Largest image (voxels, from its header) accepted in an upload and "
        "read by a dose job; larger gets 422 (upload) or fails the job.",
    )
    emission_max_voxels: int = Field(
        default=DEFAULT_MAX_EMISSION_VOXELS,
        ge=1,
        description="Largest emission image (SPECT/PET: the NM or PT series, or the NIfTI "
        "image; the dose grid) accepted in an upload and read by a dose job (voxels, from "
        "its header); larger gets 422 (upload) or fails the job. A dose job needs about 57 "
        "bytes per emission voxel plus 200 MB: 3.9 GB at the default.",
    )
    # --- end of upload and image limits ---
    job_workers: int = Field(
        default=1, ge=1, description="Worker processes running dose jobs (process pool size)."
    )
    job_executor: Literal["process", "dask"] = Field(
        default="process",
        description="Engine running dose jobs: 'process' (a local process pool of job_workers) "
        "or 'dask' (dask.distributed: the scheduler at dask_scheduler, or a local cluster "
        "of job_workers; the 'batch' extra).",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of the Dask scheduler running dose jobs (tcp://HOST:8786); only "
        "with job_executor 'dask'. Its workers must reach data_dir and the database.",
    )
    job_max_attempts: int = Field(
        default=2,
        ge=1,
        description="A job interrupted by a service stop is re-queued at start until it has "
        "been started this many times; then it is marked failed.",
    )
    dose_job_runner: str = Field(
        default="y90dose_service.voxel_jobs:run_voxel_job",
        description="'module:function' that runs one dose job in a worker process.",
    )
    key_cache_seconds: float = Field(
        default=2.0,
        ge=0.0,
        description="How long a verified API key is trusted without a database look-up "
        "(seconds); a revoked key stops working at most this long after revocation.",
    )

    # Concurrency limits and shutdown (docs/service.md, "Concurrency limits").
    max_concurrent_requests: int = Field(
        default=32,
        ge=1,
        description="Requests served at once (every route but /healthz); more wait in a queue.",
    )
    max_queued_requests: int = Field(
        default=256,
        ge=0,
        description="Requests that may wait for a place; past that a request gets 503 at once.",
    )
    queue_timeout_seconds: float = Field(
        default=10.0,
        gt=0.0,
        description="Longest wait for a place, or for the database write turn (seconds); "
        "then 503 with Retry-After.",
    )
    retry_after_seconds: int = Field(
        default=2, ge=1, description="Retry-After of a 503 answered for lack of capacity (seconds)."
    )
    shutdown_grace_seconds: int = Field(
        default=5,
        ge=1,
        description="On SIGTERM, how long requests in flight may finish before they are "
        "cancelled (seconds); the process is gone within shutdown_grace_seconds + 4 s.",
    )

    # DICOM networking (docs/dicom.md): the Storage SCP, destinations, sends and imports.
    dicom_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of the DICOM Storage SCP; unset: no SCP runs.",
    )
    dicom_host: str = Field(
        default="127.0.0.1",
        description="Address the Storage SCP listens on ('0.0.0.0': every interface).",
    )
    dicom_ae_title: str = Field(
        default=DEFAULT_AE_TITLE,
        description="The service's AE title: the SCP answers only to it, and sends, C-GET "
        "and C-MOVE call with it (the C-MOVE destination).",
    )
    dicom_calling_ae_titles: list[str] | None = Field(
        default=None,
        description='JSON list of the calling AE titles the SCP accepts (["PACS", '
        '"SPECTCT1"]); others are refused. Unset: any is accepted (a warning at start).',
    )
    dicom_destinations: list[Destination] = Field(
        default_factory=list,
        description='JSON list of destinations: {"name", "kind": "dimse", "host", "port", '
        '"ae_title"} or {"name", "kind": "dicomweb", "url"}.',
    )
    dicom_dose_job_rule: dict[str, Any] | None = Field(
        default=None,
        description='JSON object {"calling_ae_titles": [...] (optional), "job": {dose-job '
        "fields but study_id}}: a study received from one of those AE titles (any, when "
        "not given) whose inputs are usable starts that dose job.",
    )
    dicom_send_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Tries of a send or import that fails for a transient reason "
        "(no connection, timeout, peer out of resources) before it is failed.",
    )
    dicom_retry_delay_seconds: float = Field(
        default=5.0,
        ge=0.0,
        description="Wait before the second try of a send or import (seconds); doubled "
        "for each further try.",
    )
    dicom_timeout_seconds: float = Field(
        default=30.0,
        gt=0.0,
        description="Longest wait for a DICOM peer's connection, association answer or "
        "response, or a DICOMweb response (seconds).",
    )

    @field_validator("dicom_ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        try:
            return check_ae_title(value, "dicom_ae_title")
        except InputError as exc:
            raise ValueError(exc.allowed) from None

    @field_validator("dicom_calling_ae_titles")
    @classmethod
    def _calling_ae_titles(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "a non-empty list of AE titles (unset the variable to accept any calling AE)"
            )
        for title in value:
            try:
                check_ae_title(title)
            except InputError as exc:
                raise ValueError(f"{title!r}: {exc.allowed}") from None
        return value

    @field_validator("dicom_destinations")
    @classmethod
    def _destination_names(cls, value: list[Destination]) -> list[Destination]:
        names = [d.name for d in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"one destination per name ({', '.join(twice)} given twice)")
        return value

    # Clinical site settings: the plans this service computes are checked with them.
    glass_segmentectomy_floor: GlassSegmentectomyFloor = Field(
        default=DEFAULT_SETTINGS.glass_segmentectomy_floor,
        description="The floor a glass segmentectomy plan is checked against: 'definition' "
        "(200 Gy, Liberchuk and Deipolyi 2020) or 'lewandowski2018' (190 Gy, Radiology "
        "2018;287:1050).",
    )
    resin_segmentectomy_floor: ResinSegmentectomyFloor = Field(
        default=DEFAULT_SETTINGS.resin_segmentectomy_floor,
        description="The floor a resin segmentectomy plan is checked against: 'definition' "
        "(200 Gy) or 'eanm2022' (150 Gy, EANM 2022 Table 3).",
    )

    @model_validator(mode="after")
    def _scheduler_only_with_dask(self) -> ServiceSettings:
        """A scheduler address with the process pool would be silently ignored: refused."""
        if self.dask_scheduler and self.job_executor != "dask":
            raise ValueError(
                "dask_scheduler is set but job_executor is "
                f"{self.job_executor!r}: set job_executor to 'dask' to use the scheduler"
            )
        return self

    def clinical_settings(self) -> ClinicalSettings:
        """The library's clinical settings with this site's choices: what plans are checked
        against (every planning route and the web pages use these)."""
        return DEFAULT_SETTINGS.model_copy(
            update={
                "glass_segmentectomy_floor": self.glass_segmentectomy_floor,
                "resin_segmentectomy_floor": self.resin_segmentectomy_floor,
            }
        )

    def resolved_database_url(self) -> str:
        """The database URL in force (the SQLite default made explicit)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'y90dose.sqlite3').resolve()}"

    @property
    def studies_dir(self) -> Path:
        """Where uploaded studies are unpacked, one folder per study id."""
        return self.data_dir / "studies"

    @property
    def jobs_dir(self) -> Path:
        """Where dose-job outputs go, one folder per job id."""
        return self.data_dir / "jobs"
