"""Schemas of ``/v1/plans``: create, revise, approve and read versioned plans."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from y90dose.delivery import Delivery
from y90dose.devices import Product
from y90dose.models.treatment import AnyPlanResult
from y90dose.models.treatment_input import TREATMENT_EXAMPLE
from y90dose.segments import Segment
from y90dose.validation import SAYS_SOMETHING, says_something
from y90dose_service.schemas.common import DateText, FreeText, JsonObject, OneLineText

PATIENT_REF_MAX_CHARS = 200


def _not_blank(value: str) -> str:
    if not says_something(value):
        raise ValueError(SAYS_SOMETHING)
    return value


NotBlank = AfterValidator(_not_blank)
"""A patient reference or a reason of only spaces, line breaks or invisible characters
(zero-width space) says nothing (:func:`y90dose.validation.says_something`)."""


class PlanModel(StrEnum):
    """Planning model of a stored plan; ``treatment``: several territories, each with its
    own model (``TreatmentInput``)."""

    MIRD = "mird"
    PARTITION = "partition"
    BSA = "bsa"
    TREATMENT = "treatment"


class PlanCreate(BaseModel):
    """A new plan: who, when, with what, and the model's inputs.

    ``product`` and ``delivery`` must be stated for ``mird``, ``partition`` and ``bsa`` (no
    default for a stored plan); they are passed to the model with ``inputs``. ``inputs``
    holds the model's own fields (``MirdPlanInput``, ``MirdDoseInput``,
    ``PartitionPlanInput``, ``PartitionDoseInput`` or ``BsaPlanInput``): a target dose
    plans an activity, ``activity_gbq`` computes doses. A ``treatment`` (several
    territories, ``TreatmentInput``) states neither: each territory gives its own product
    and delivery in its inputs.
    A segmental or segmentectomy plan names its Couinaud segments in ``inputs.segments``
    (``["VI", "VII"]``; ``"IV"`` is IVa + IVb) and may give ``inputs.liver_volume_ml``.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "patient_ref": "MRN-0042",
                    "treatment_date": "2026-12-01",
                    "product": "glass",
                    "delivery": "lobar",
                    "model": "mird",
                    "inputs": {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08},
                },
                {
                    "patient_ref": "MRN-0043",
                    "treatment_date": "2026-12-02",
                    "product": "glass",
                    "delivery": "segmentectomy",
                    "model": "mird",
                    "inputs": {
                        "target_dose_gy": 250,
                        "perfused_volume_ml": 180,
                        "liver_volume_ml": 1500,
                        "segments": ["VI", "VII"],
                        "lsf": 0.04,
                    },
                },
                {
                    "patient_ref": "MRN-0044",
                    "treatment_date": "2026-12-03",
                    "model": "treatment",
                    "inputs": TREATMENT_EXAMPLE,
                },
            ]
        },
    )

    patient_ref: Annotated[OneLineText, NotBlank] = Field(
        min_length=1,
        max_length=PATIENT_REF_MAX_CHARS,
        description="the department's patient reference (never logged)",
    )
    treatment_date: DateText = Field(description="planned treatment date (YYYY-MM-DD)")
    product: Product | None = Field(
        None,
        description="microsphere product: glass or resin (required but for a treatment, "
        "whose territories give their own)",
    )
    delivery: Delivery | None = Field(
        None,
        description="whole, lobar, segmental or segmentectomy (required but for a treatment, "
        "whose territories give their own)",
    )
    model: PlanModel = Field(description="planning model: mird, partition, bsa or treatment")
    inputs: JsonObject = Field(
        description="the model's inputs with units in their names (see MirdPlanInput, ...); "
        "product and delivery come from the fields above"
    )
    note: FreeText | None = Field(None, max_length=2000, description="free text for the record")


class RevisionCreate(BaseModel):
    """A new version of a plan. Omitted fields keep the latest version's values.

    ``inputs`` is the complete new set of model inputs (not a patch), so a version
    always reads on its own.
    """

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[FreeText, NotBlank] = Field(
        min_length=1, max_length=2000, description="why the plan changes"
    )
    base_version: int | None = Field(
        None,
        ge=1,
        description="the version this revision was made from; 409 if the plan has moved on",
    )
    treatment_date: DateText | None = Field(None, description="planned treatment date")
    product: Product | None = Field(None, description="glass or resin")
    delivery: Delivery | None = Field(None, description="delivery type")
    model: PlanModel | None = Field(None, description="planning model")
    inputs: JsonObject = Field(description="the model's complete inputs")


class ApprovalCreate(BaseModel):
    """Approve one version of a plan: it must be the latest and have no block finding."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version being approved (the latest)")
    comment: FreeText | None = Field(None, max_length=2000)


class ApprovalPublic(BaseModel):
    """Who approved which version, and when."""

    version: int
    approved_by: str = Field(description="name of the approving API key")
    approved_at: datetime
    comment: str | None


class PlanVersionPublic(BaseModel):
    """One immutable version: its inputs, result, findings and constants."""

    version: int
    treatment_date: date
    product: Product | None = Field(
        description="glass or resin; for a treatment the territories' product, null when "
        "they use both"
    )
    delivery: Delivery | None = Field(
        description="the delivery; null for a treatment (each territory has its own)"
    )
    model: PlanModel
    direction: str = Field(description="plan (dose -> activity) or dose (activity -> doses)")
    segments: list[Segment] | None = Field(
        description="treated Couinaud segments (inputs.segments; IV stored as IVa, IVb)"
    )
    inputs: dict[str, Any]
    result: AnyPlanResult = Field(description="PlanResult, or TreatmentResult for model treatment")
    has_block: bool = Field(description="true when a finding blocks approval")
    note: str | None
    created_at: datetime
    created_by: str = Field(description="name of the API key that created this version")


class PlanVersionSummary(BaseModel):
    """A line of a plan's version list."""

    version: int
    created_at: datetime
    created_by: str
    activity_gbq: float = Field(description="activity of that version (GBq)")
    has_block: bool
    note: str | None


class PlanPublic(BaseModel):
    """A plan with its latest version in full, its version list and approvals."""

    id: str
    patient_ref: str
    created_at: datetime
    created_by: str
    latest_version: int
    approved_version: int | None = Field(
        description="the latest version if it has been approved, else null"
    )
    current: PlanVersionPublic = Field(description="the latest version")
    versions: list[PlanVersionSummary]
    approvals: list[ApprovalPublic]


class PlanSummary(BaseModel):
    """A line of the plan list."""

    id: str
    patient_ref: str
    treatment_date: date
    model: PlanModel
    product: Product | None = Field(description="null for a treatment using both products")
    latest_version: int
    activity_gbq: float = Field(description="activity of the latest version (GBq)")
    has_block: bool
    approved_version: int | None
    created_at: datetime
