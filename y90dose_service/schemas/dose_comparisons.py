"""Schema of ``/v1/dose-jobs/{id}/comparison``: planned versus delivered dose per VOI.

The per-VOI numbers are the library's own model
(:class:`y90dose.pipeline.compare.VoiComparison`); the runs are named by their job ids
instead of server folders.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from y90dose.pipeline.compare import VoiComparison


class DoseComparisonPublic(BaseModel):
    """Planned (predictive job) versus delivered (this job) mean dose and D70 per VOI,
    evaluated on the planned job's VOIs and grid."""

    delivered_job_id: str
    planned_job_id: str
    registration: str = Field(description="how the two dose maps were aligned")
    planned_method: str
    delivered_method: str
    vois: dict[str, VoiComparison] = Field(
        description="per VOI: planned, delivered, difference (Gy and %), coverage"
    )
    warnings: list[str]
