"""``/v1/calculations``: stateless planning calculations (nothing is stored).

Bodies and results are the core's pydantic models, the same the CLI's ``--json``
prints. Any key (viewer or above) may calculate.

These are the service's hottest routes and do microseconds of work, so each one checks
the caller itself (``await authorize(request)``, the same check as ``ViewerDep``)
instead of through a dependency: FastAPI's dependency solving cost about 45 us a
request, a fifth of the route (docs/service.md, Benchmarks).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from y90dose.decay import DecayInput, DecayResult, decay
from y90dose.lung import LsfInput, LsfResult, lsf_from_counts
from y90dose.models.bsa import BsaPlanInput
from y90dose.models.common import PlanResult
from y90dose.models.mird import MirdDoseInput, MirdPlanInput
from y90dose.models.partition import PartitionDoseInput, PartitionPlanInput
from y90dose.models.treatment import TreatmentInput, TreatmentResult
from y90dose.vials import VialInput, VialResult, choose_vial
from y90dose_service.calculations import PLANNING, run_treatment, validate
from y90dose_service.deps import clinical_settings, require
from y90dose_service.openapi import json_body
from y90dose_service.problems import InvalidInputError, field_error
from y90dose_service.schemas.common import unpaired_surrogate
from y90dose_service.security import Role

router = APIRouter(prefix="/calculations", tags=["calculations"])

JSON = "application/json"

authorize = require(Role.VIEWER)
"""The caller check of every calculation: 401 without a valid key (any role may calculate)."""


async def read_json(request: Request) -> Any:
    """The request's JSON body, or a 422 saying it is not JSON."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        shown = raw[:80].decode("utf-8", "replace")
        raise InvalidInputError(
            [field_error("body", shown, "a JSON object (Content-Type: application/json)")]
        ) from None
    # only a JSON escape (a backslash, in any encoding JSON allows) can spell a surrogate
    where = unpaired_surrogate(body) if b"\\" in raw else None
    if where is not None:
        raise InvalidInputError(
            [field_error(where, "(text with an unpaired surrogate)", "valid Unicode text")]
        )
    return body


def _planning(name: str, body: Any, request: Request) -> Response:
    _, result = PLANNING[name].run(body, clinical_settings(request))
    return Response(result.model_dump_json(), media_type=JSON)


@router.post(
    "/mird",
    response_model=PlanResult,
    summary="MIRD single-compartment: activity for a perfused dose, or doses for an activity",
    openapi_extra=json_body(
        MirdPlanInput,
        MirdDoseInput,
        description="MirdPlanInput (target_dose_gy -> activity) or MirdDoseInput "
        "(activity_gbq -> doses); not both.",
    ),
)
async def mird(request: Request) -> Response:
    """MIRD model (glass IFU form): ``D = C x A x (1 - LSF) x (1 - R) / M_perfused``."""
    await authorize(request)
    return _planning("mird", await read_json(request), request)


@router.post(
    "/partition",
    response_model=PlanResult,
    summary="Partition model: activity for a normal or tumour dose, or doses for an activity",
    openapi_extra=json_body(
        PartitionPlanInput,
        PartitionDoseInput,
        description="PartitionPlanInput (normal_dose_gy or tumor_dose_gy -> activity) or "
        "PartitionDoseInput (activity_gbq -> doses).",
    ),
)
async def partition(request: Request) -> Response:
    """Partition (multi-compartment) model with tumour-to-normal ratios."""
    await authorize(request)
    return _planning("partition", await read_json(request), request)


@router.post(
    "/bsa",
    response_model=PlanResult,
    summary="Body-surface-area method (resin): activity from BSA and tumour involvement",
    openapi_extra=json_body(BsaPlanInput, description="BsaPlanInput"),
)
async def bsa(request: Request) -> Response:
    """BSA method of the resin IFU."""
    await authorize(request)
    return _planning("bsa", await read_json(request), request)


@router.post(
    "/treatment",
    response_model=TreatmentResult,
    summary="Multi-territory treatment: each territory by its own model, and the lung, "
    "whole-liver and whole normal-liver doses of them together",
    openapi_extra=json_body(
        TreatmentInput,
        description="TreatmentInput: territories (each name, model mird|partition|bsa, "
        "inputs = that model's fields, optional treatment_date) and the shared "
        "lung_mass_kg, prior_lung_dose_gy, density_g_ml, liver_volume_ml.",
    ),
)
async def treatment(request: Request) -> Response:
    """Lung dose C x sum(A_i x (1 - R_i) x LSF_i) / M_L with each territory's own C; a lung
    limit passed only by the sum blocks the treatment."""
    await authorize(request)
    _, result = run_treatment(await read_json(request), clinical_settings(request))
    return Response(result.model_dump_json(), media_type=JSON)


@router.post(
    "/lsf",
    response_model=LsfResult,
    summary="Lung shunt fraction from planar anterior/posterior counts",
    openapi_extra=json_body(LsfInput, description="LsfInput"),
)
async def lsf(request: Request) -> Response:
    """LSF = G_lung / (G_lung + G_liver), geometric means of anterior and posterior counts."""
    await authorize(request)
    counts = validate(LsfInput, await read_json(request))
    return Response(lsf_from_counts(counts).model_dump_json(), media_type=JSON)


@router.post(
    "/decay",
    response_model=DecayResult,
    summary="Y-90 activity at another instant (time-zone-aware ISO 8601 instants)",
    openapi_extra=json_body(DecayInput, description="DecayInput"),
)
async def decay_activity(request: Request) -> Response:
    """A(t) = A0 x 2^(-t / T1/2) with T1/2 = 64.1 h; an earlier instant gives more activity."""
    await authorize(request)
    inputs = validate(DecayInput, await read_json(request))
    return Response(decay(inputs).model_dump_json(), media_type=JSON)


@router.post(
    "/vial",
    response_model=VialResult,
    summary="Which vial to order for an activity at a treatment instant",
    openapi_extra=json_body(VialInput, description="VialInput"),
)
async def vial(request: Request) -> Response:
    """Smallest vial holding at least the needed activity at treatment, with findings."""
    await authorize(request)
    inputs = validate(VialInput, await read_json(request))
    return Response(choose_vial(inputs).model_dump_json(), media_type=JSON)
