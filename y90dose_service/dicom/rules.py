"""The dose-job rule: a study received by the Storage SCP may start a dose job.

``Y90DOSE_DICOM_DOSE_JOB_RULE`` is a JSON object::

    {"calling_ae_titles": ["SPECTCT1"],
     "job": {"activity_gbq": 2.0, "lsf": 0.08, "product": "resin", "method": "dvk"}}

``job`` holds the fields of ``POST /v1/dose-jobs`` but ``study_id`` and is checked with the
same schema when the service starts (a bad rule stops the start with the field named).
A study received from one of ``calling_ae_titles`` (any calling AE title when the key is
absent) whose dose inputs are usable starts that job, audited as ``job.create`` by
``dicom:<calling AE title>`` with ``"rule": "dicom_dose_job_rule"``. A study the rule
matches but cannot start (its inputs are not usable) says why in its summary
(``dose_job.not_started``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from y90dose.dicomnet.destinations import check_ae_title
from y90dose.errors import InputError
from y90dose.validation import describe_error

logger = logging.getLogger("y90dose.service.dicom")

SETTING = "dicom_dose_job_rule"
PLACEHOLDER_STUDY_ID = "00000000-0000-4000-8000-000000000000"
"""Stands in for the study while the rule's job is checked at start."""


@dataclass(frozen=True)
class DoseJobRule:
    """Which received studies start a dose job, and with which fields."""

    job: dict[str, Any]
    calling_ae_titles: tuple[str, ...] | None = None

    @classmethod
    def from_setting(cls, value: dict[str, Any] | None) -> DoseJobRule | None:
        """The rule of ``Y90DOSE_DICOM_DOSE_JOB_RULE`` (None when unset).

        Raises
        ------
        InputError
            Naming the setting's field that is wrong (``dicom_dose_job_rule.job.lsf``).
        """
        if value is None:
            return None
        unknown = sorted(set(value) - {"calling_ae_titles", "job"})
        if unknown:
            raise InputError(f"{SETTING}.{unknown[0]}", value[unknown[0]], "no such key")
        titles = value.get("calling_ae_titles")
        if titles is not None:
            if not isinstance(titles, list) or not titles:
                raise InputError(
                    f"{SETTING}.calling_ae_titles", titles, "a non-empty list of AE titles"
                )
            for index, title in enumerate(titles):
                check_ae_title(title, f"{SETTING}.calling_ae_titles[{index}]")
        job = value.get("job")
        if not isinstance(job, dict):
            raise InputError(f"{SETTING}.job", job, "an object of dose-job fields")
        if "study_id" in job:
            raise InputError(f"{SETTING}.job.study_id", job["study_id"], "no study_id")
        rule = cls(job=dict(job), calling_ae_titles=tuple(titles) if titles else None)
        rule.body(PLACEHOLDER_STUDY_ID)  # checked now, not at the first received study
        return rule

    def applies(self, calling_ae_title: str) -> bool:
        """Whether a study from ``calling_ae_title`` is one the rule starts a job for."""
        return self.calling_ae_titles is None or calling_ae_title in self.calling_ae_titles

    def body(self, study_id: str) -> Any:
        """The ``DoseJobCreate`` body for ``study_id``.

        Raises
        ------
        InputError
            The job's fields do not pass the dose-job schema (first field named).
        """
        from y90dose_service.schemas.dose_jobs import DoseJobCreate

        try:
            return DoseJobCreate.model_validate({**self.job, "study_id": study_id})
        except ValidationError as exc:
            field, value, allowed = describe_error(exc.errors()[0])
            raise InputError(f"{SETTING}.job.{field}", value, allowed) from None
