"""Reports of results: documents for the medical record, built as bytes (no file I/O).

- ``plan_report_pdf``: the PDF of one plan version (``GET /v1/plans/{id}/report``,
  ``y90dose plan ... --report FILE.pdf``, ``y90dose dose ... --report FILE.pdf``).
- ``dose_report_pdf``: the dosimetry report of a voxel run (``GET
  /v1/dose-jobs/{id}/report``, ``y90dose voxel --report FILE.pdf``), and
  ``dose_report_dicom``: the same PDF as a DICOM Encapsulated PDF in the images' study.

The PDF library (reportlab, the ``report`` extra) is imported only when a report is built.
"""

from __future__ import annotations

from y90dose.reports.dose import (
    DoseReport,
    dose_report_dicom,
    dose_report_pdf,
    dose_report_rows,
    voxel_inputs_sha256,
)
from y90dose.reports.plan import (
    ApprovalRecord,
    PlanReport,
    inputs_sha256,
    plan_report_pdf,
    plan_report_rows,
)

__all__ = [
    "ApprovalRecord",
    "DoseReport",
    "PlanReport",
    "dose_report_dicom",
    "dose_report_pdf",
    "dose_report_rows",
    "inputs_sha256",
    "plan_report_pdf",
    "plan_report_rows",
    "voxel_inputs_sha256",
]
