"""Reports of results: documents for the medical record, built as bytes (no file I/O).

``plan_report_pdf`` builds the PDF of one plan version; the service
(``GET /v1/plans/{id}/report``) and the CLI (``y90dose plan ... --report FILE.pdf``)
both call it. The PDF library (reportlab, the ``report`` extra) is imported only when a
report is built.
"""

from __future__ import annotations

from y90dose.reports.plan import (
    ApprovalRecord,
    PlanReport,
    inputs_sha256,
    plan_report_pdf,
    plan_report_rows,
)

__all__ = ["ApprovalRecord", "PlanReport", "inputs_sha256", "plan_report_pdf", "plan_report_rows"]
