"""The web pages: sign-in, plans (list, new, page, revise, approve, report; a treatment's
territories through :mod:`treatment_form`), validation.

Every page calls the JSON API's own route functions (``y90dose_service.routers.plans``,
``y90dose_service.routers.plan_reports``) with the signed-in caller and the same kind of
database session, and shows the API's problems in its words: the pages hold no
validation and no physics of their own.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session

import y90dose
from y90dose.delivery import Delivery
from y90dose.devices import Product
from y90dose.errors import InputError
from y90dose.findings import Severity
from y90dose.models.treatment_input import MAX_TERRITORIES
from y90dose.reports.plan import constant_rows, spheres_row, uncertainty_rows
from y90dose.units import field_unit, gbq_to_mci
from y90dose_service.calculations import run_treatment
from y90dose_service.deps import check_role, clinical_settings, get_session, write_session
from y90dose_service.problems import InvalidInputError, ProblemError, errors_of, field_error
from y90dose_service.routers import plans as plan_api
from y90dose_service.routers.plan_reports import load_plan, plan_report, report_filename
from y90dose_service.schemas.plans import (
    ApprovalCreate,
    PlanCreate,
    PlanModel,
    PlanPublic,
    PlanVersionPublic,
    RevisionCreate,
)
from y90dose_service.security import Caller, Role, hash_key, verify_key
from y90dose_service.web import forms
from y90dose_service.web import treatment_form as tf
from y90dose_service.web.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    SessionStore,
    WebSession,
    caller_of_digest,
    same_origin,
    tokens_match,
)

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

SEVERITIES = (Severity.BLOCK.value, Severity.WARNING.value, Severity.INFO.value)


class SignInRequiredError(Exception):
    """No live session: GET pages redirect to the sign-in page."""


class CsrfRefusedError(Exception):
    """A state-changing request without this site's CSRF token or from another origin."""


def store(request: Request) -> SessionStore:
    """The app's session store."""
    sessions: SessionStore = request.app.state.web_sessions
    return sessions


async def current_session(request: Request) -> WebSession:
    """The signed-in session whose key is still live (else SignInRequiredError)."""
    session = store(request).get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequiredError()
    caller = await caller_of_digest(request, session.key_digest)
    if caller is None:
        store(request).end(session.session_id)
        raise SignInRequiredError()
    return session


async def checked_session(request: Request) -> WebSession:
    """The session of a state-changing request, after the CSRF and origin checks."""
    session = await current_session(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = text(await request.form(), CSRF_FIELD)
    if not same_origin(request) or not tokens_match(session.csrf_token, given):
        raise CsrfRefusedError()
    return session


SessionOf = Annotated[WebSession, Depends(current_session)]
CheckedSession = Annotated[WebSession, Depends(checked_session)]
ReadSession = Annotated[Session, Depends(get_session)]


@contextlib.asynccontextmanager
async def writing(request: Request, caller: Caller, role: Role) -> AsyncIterator[Session]:
    """The API's write session for ``role`` (SQLite write turn, rollback unless committed),
    after checking the role the way the API does (403 problem)."""
    check_role(caller, role)
    async with contextlib.asynccontextmanager(write_session(role))(request, caller) as session:
        yield session


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page, with what every page needs (the caller, the CSRF token)."""
    session = store(request).get(request.cookies.get(SESSION_COOKIE))
    base = {
        "caller": session.caller if session else None,
        "csrf_token": session.csrf_token if session else "",
        "csrf_field": CSRF_FIELD,
        "version": y90dose.__version__,
        "gbq_to_mci": gbq_to_mci,
        "severities": SEVERITIES,
        "units": field_unit,
        "uncertainty_rows": uncertainty_rows,
        "spheres_row": spheres_row,
        "in_use": forms.in_use,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def problem_text(exc: Exception) -> tuple[int, str, list[dict[str, Any]]]:
    """(status, sentence, field errors) of an API error, in the API's words."""
    if isinstance(exc, InvalidInputError):
        errors = exc.errors
        first = errors[0]
        return 422, f"{first['field']}: see the messages at the fields", errors
    if isinstance(exc, InputError):
        errors = [field_error(exc.field, exc.value, exc.allowed)]
        return 422, str(exc), errors
    if isinstance(exc, ProblemError):
        return exc.status, exc.detail, []
    raise exc


# --- sign in and out ----------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    """Plans when signed in, else the sign-in page."""
    signed_in = store(request).get(request.cookies.get(SESSION_COOKIE)) is not None
    return RedirectResponse("/plans" if signed_in else "/signin", status_code=303)


def _signin_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or ""
    if not token:
        import secrets

        token = secrets.token_urlsafe(24)
    response = render(request, "signin.html", {"signin_token": token, "error": error}, status_code)
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=SIGNIN_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/signin",
    )
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    """Paste an API key once."""
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the key as the API does; on success set the session cookie."""
    form = await request.form()
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    if not same_origin(request) or not expected or not tokens_match(expected, form.get(CSRF_FIELD)):
        return _signin_page(
            request, "The sign-in form was not sent from this site's page; try again.", 403
        )
    key = str(form.get("api_key") or "").strip()
    factory = request.app.state.sessionmaker

    def lookup() -> Caller | None:
        with factory() as db:
            return verify_key(db, key)

    from fastapi.concurrency import run_in_threadpool

    caller = await run_in_threadpool(lookup) if key else None
    if caller is None:
        return _signin_page(request, "That API key is unknown or revoked.", 401)
    session = store(request).create(hash_key(key), caller)
    response = RedirectResponse("/plans", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin", httponly=True, samesite="strict")
    return response


@router.post("/signout")
async def signout(request: Request, session: CheckedSession) -> Response:
    """End the session and clear the cookie."""
    store(request).end(session.session_id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- plans --------------------------------------------------------------------------------


def status_of(has_block: bool, approved_version: int | None) -> str:
    """draft, approved or blocked (the latest version's state)."""
    if approved_version is not None:
        return "approved"
    return "blocked" if has_block else "draft"


@router.get("/plans")
async def plan_list(
    request: Request, web: SessionOf, db: ReadSession, patient_ref: str = "", offset: int = 0
) -> Response:
    """Plans, newest first; exactly one patient's when a reference is given."""
    try:
        page = plan_api.list_plans(
            db, web.caller, patient_ref=patient_ref.strip() or None, offset=offset, limit=50
        )
    except (InvalidInputError, ProblemError) as exc:
        status, detail, _ = problem_text(exc)
        return render(request, "error.html", {"detail": detail}, status)
    rows = [(p, status_of(p.has_block, p.approved_version)) for p in page.items]
    return render(request, "plans.html", {"rows": rows, "page": page, "patient_ref": patient_ref})


FORM_MODELS = (*forms.MODELS, tf.TREATMENT)
"""The new-plan and revision forms: one per planning model, and the treatment's."""
PAGE_FIELDS = ("patient_ref", "treatment_date", "reason", "base_version", "note")
"""Fields of the form beside the model's inputs (with a message slot of their own)."""


def _slots(model: str, values: dict[str, Any]) -> list[str]:
    """The names the form of ``model`` (with ``values``) shows messages at."""
    if model == tf.TREATMENT:
        return tf.field_names(tf.territories_of(values))
    return [f.name for f in forms.model_form(model)] + ["product", "delivery"]


def _form_context(
    model: str,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    errors = errors or {}
    shown = {*_slots(model, values), *PAGE_FIELDS}
    context = {
        "model": model,
        "models": FORM_MODELS,
        "planning_models": forms.MODELS,
        "model_titles": forms.MODEL_TITLES,
        "fields": [] if model == tf.TREATMENT else forms.model_form(model),
        "products": forms.PRODUCTS,
        "deliveries": forms.DELIVERIES,
        "values": values,
        "errors": errors,
        "max_territories": MAX_TERRITORIES,
        # messages of fields the form has no place for (a territory the page does not
        # show, an unknown field sent by hand), listed with the problem
        "unplaced": [m for name, ms in errors.items() if name not in shown for m in ms],
        **extra,
    }
    if model == tf.TREATMENT:
        context["territories"] = tf.territories_of(values)
        context["shared_fields"] = tf.shared_form()
    return context


def _model_of(value: str | None) -> str:
    return value if value in FORM_MODELS else "mird"


def _errors(model: str, errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The API's errors by the names of the form of ``model``."""
    if model == tf.TREATMENT:
        return tf.errors_by_field(errors)
    return forms.errors_by_field(errors)


@router.get("/plans/new")
async def new_plan_form(request: Request, web: SessionOf, model: str = "mird") -> Response:
    """The new-plan form for one model (MIRD, partition or BSA) or a treatment."""
    model = _model_of(model)
    values: dict[str, Any] = {"product": "resin" if model == "bsa" else "glass"}
    if model == tf.TREATMENT:
        values = tf.new_values()
    return render(request, "plan_form.html", _form_context(model, values, action="/plans/new"))


def _submitted(form: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(model, the form's values to show again, the inputs for the API)."""
    model = _model_of(text(form, "model"))
    if model == tf.TREATMENT:
        shown = tf.submitted_values(form)
        shown.pop(CSRF_FIELD, None)
        return model, shown, tf.body_of(shown)
    values: dict[str, Any] = {k: form.get(k) for k in form if k != CSRF_FIELD}
    for name in (*forms.TUMOR_FIELDS, "segments"):
        values[name] = form.getlist(name)
    return model, values, forms.form_inputs(model, form)


def text(form: Any, name: str) -> str:
    """A text field of a submitted form ("" when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


EnumT = TypeVar("EnumT", Product, Delivery)


def _choice(kind: type[EnumT], name: str, form: Any, errors: list[dict[str, Any]]) -> EnumT | None:
    """The enum member a select sent, else None with the field error added."""
    try:
        return kind(text(form, name))
    except ValueError:
        allowed = f"one of {', '.join(m.value for m in kind)}"
        errors.append(field_error(name, text(form, name), allowed))
        return None


@router.post("/plans/preview")
async def preview(request: Request, web: CheckedSession) -> Response:
    """The result and findings of the form as it stands, computed by the same function
    the API's calculation and plan endpoints run (``/v1/calculations/treatment`` for a
    treatment); nothing is stored."""
    form = await request.form()
    model, values, inputs = _submitted(form)
    errors: list[dict[str, Any]] = []
    result: Any = None
    if model == tf.TREATMENT:
        try:
            _, result = run_treatment(inputs, clinical_settings(request))
        except (InvalidInputError, InputError) as exc:
            errors = problem_text(exc)[2]
    else:
        product = _choice(Product, "product", form, errors)
        delivery = _choice(Delivery, "delivery", form, errors)
        if not errors and product is not None and delivery is not None:
            try:
                _, result = plan_api.compute(
                    PlanModel(model), product, delivery, inputs, clinical_settings(request)
                )
            except (InvalidInputError, InputError) as exc:
                errors = problem_text(exc)[2]
    return render(
        request,
        "_preview.html",
        {
            "result": result,
            "errors": _errors(model, errors),
            "slots": _slots(model, values),
            "model": model,
            "wide": False,
            "plan_date": values.get("treatment_date") or None,
        },
    )


@router.post("/plans/treatment/territories")
async def treatment_territories(request: Request, web: CheckedSession) -> Response:
    """The treatment form's territories again, after one was added (``action`` add),
    removed (``remove-<i>``) or changed its model; the values typed are kept."""
    form = await request.form()
    values = tf.changed(tf.submitted_values(form), text(form, "action"))
    context = _form_context(tf.TREATMENT, values, restructured=True)
    return render(request, "_territories.html", context)


@router.post("/plans/new")
async def create_plan(request: Request, web: CheckedSession) -> Response:
    """Store version 1 through the API's create route; errors shown at their fields."""
    form = await request.form()
    model, values, inputs = _submitted(form)
    treatment = model == tf.TREATMENT  # its territories give product and delivery
    body = {
        "patient_ref": form.get("patient_ref") or "",
        "treatment_date": form.get("treatment_date") or None,
        "product": None if treatment else form.get("product"),
        "delivery": None if treatment else form.get("delivery"),
        "model": model,
        "inputs": inputs,
        "note": text(form, "note").strip() or None,
    }
    try:
        try:
            create = PlanCreate.model_validate(body)
        except ValidationError as exc:
            raise InvalidInputError(errors_of(exc)) from None
        # The route's own role check (PlannerDep) is not run on a direct call: check here.
        # create_plan takes its own write transaction (one Core transaction, see the route).
        check_role(web.caller, Role.PLANNER)
        response = await plan_api.create_plan(create, web.caller, request)
    except (InvalidInputError, InputError, ProblemError) as exc:
        status, detail, errors = problem_text(exc)
        context = _form_context(
            model, values, _errors(model, errors), action="/plans/new", problem=detail
        )
        return render(request, "plan_form.html", context, status)
    plan = PlanPublic.model_validate_json(bytes(response.body))
    return RedirectResponse(f"/plans/{plan.id}", status_code=303)


def _versions(db: Session, caller: Caller, plan: PlanPublic) -> list[PlanVersionPublic]:
    return [plan_api.get_version(plan.id, v.version, db, caller) for v in plan.versions]


def changes(old: PlanVersionPublic, new: PlanVersionPublic) -> list[tuple[str, str, str]]:
    """What differs between two versions: (what, before, after)."""
    rows: list[tuple[str, str, str]] = []
    for name in ("treatment_date", "product", "delivery", "model"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            rows.append(
                (name, str(getattr(before, "value", before)), str(getattr(after, "value", after)))
            )
    old_inputs, new_inputs = _by_path(old.inputs), _by_path(new.inputs)
    for name in sorted(set(old_inputs) | set(new_inputs)):
        before, after = old_inputs.get(name), new_inputs.get(name)
        if before != after:
            rows.append((f"inputs.{name}", _shown(before), _shown(after)))
    if old.result.activity_gbq != new.result.activity_gbq:
        rows.append(
            (
                "activity_gbq (result)",
                f"{old.result.activity_gbq:.3f}",
                f"{new.result.activity_gbq:.3f}",
            )
        )
    return rows


def _by_path(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs by the API's field paths: a treatment's territories one input at a time
    (``territories[1].inputs.lsf``), so that a change names what changed."""
    territories = inputs.get("territories")
    if not isinstance(territories, list):
        return inputs
    flat = {name: value for name, value in inputs.items() if name != "territories"}
    for index, territory in enumerate(territories):
        for name, value in territory.items():
            if name == "inputs" and isinstance(value, dict):
                flat |= {f"{tf.inputs_prefix(index)}{k}": v for k, v in value.items()}
            else:
                flat[f"{tf.prefix(index)}{name}"] = value
    return flat


def _shown(value: Any) -> str:
    if value is None:
        return "not given"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _plan_page(
    request: Request,
    web: WebSession,
    db: Session,
    plan_id: str,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    plan = plan_api.get_plan(plan_id, db, web.caller)
    versions = _versions(db, web.caller, plan)
    diffs = [(new.version, changes(old, new)) for old, new in itertools.pairwise(versions)]
    current = plan.current
    findings = {
        s: [f for f in current.result.findings if f.severity.value == s] for s in SEVERITIES
    }
    refusal = None
    if not web.caller.role.allows(Role.APPROVER):
        refusal = (
            f"Your key ({web.caller.name}) has role {web.caller.role.value}; approving needs "
            "the approver role."
        )
    elif current.has_block:
        refusal = "This version has blocking findings; it cannot be approved until revised."
    elif any(
        a.version == current.version and a.approved_by == web.caller.name for a in plan.approvals
    ):
        refusal = f"You ({web.caller.name}) already approved version {current.version}."
    context = {
        "plan": plan,
        "current": current,
        "status": status_of(current.has_block, plan.approved_version),
        "versions": versions,
        "diffs": list(reversed(diffs)),
        "by_severity": findings,
        "constants": constant_rows(current.result),
        "refusal": refusal,
        **extra,
    }
    return render(request, "plan.html", context, status_code)


@router.get("/plans/{plan_id}")
async def plan_page(request: Request, plan_id: str, web: SessionOf, db: ReadSession) -> Response:
    """A plan: versions, changes, findings by severity, constants, approvals."""
    try:
        return _plan_page(request, web, db, plan_id)
    except ProblemError as exc:
        return render(request, "error.html", {"detail": exc.detail}, exc.status)


@router.post("/plans/{plan_id}/approve")
async def approve(request: Request, plan_id: str, web: CheckedSession, db: ReadSession) -> Response:
    """Approve through the API's route; a refusal is shown on the plan page, with why."""
    form = await request.form()
    try:
        try:
            body = ApprovalCreate.model_validate(
                {
                    "version": form.get("version"),
                    "comment": text(form, "comment").strip() or None,
                }
            )
        except ValidationError as exc:
            raise InvalidInputError(errors_of(exc)) from None
        async with writing(request, web.caller, Role.APPROVER) as wdb:
            plan_api.approve_plan(plan_id, body, web.caller, wdb)
    except (InvalidInputError, ProblemError) as exc:
        status, detail, errors = problem_text(exc)
        if errors:
            detail = "; ".join(m for ms in forms.errors_by_field(errors).values() for m in ms)
        if status == 404:
            return render(request, "error.html", {"detail": detail}, status)
        return _plan_page(request, web, db, plan_id, status, approval_problem=detail)
    return RedirectResponse(f"/plans/{plan_id}", status_code=303)


@router.get("/plans/{plan_id}/revise")
async def revise_form(request: Request, plan_id: str, web: SessionOf, db: ReadSession) -> Response:
    """The latest version's values in the form, with a reason to give."""
    try:
        plan = plan_api.get_plan(plan_id, db, web.caller)
    except ProblemError as exc:
        return render(request, "error.html", {"detail": exc.detail}, exc.status)
    current = plan.current
    model = _model_of(request.query_params.get("model") or current.model.value)
    was_treatment = current.model is PlanModel.TREATMENT
    product = current.product.value if current.product else "glass"
    delivery = current.delivery.value if current.delivery else "whole"
    if model == tf.TREATMENT:
        values = (
            tf.stored_values(current.inputs)
            if was_treatment
            else tf.from_single(current.model.value, current.inputs, product, delivery)
        )
    else:
        # a treatment revised as one model starts from its first territory's inputs
        first = current.inputs["territories"][0]["inputs"] if was_treatment else current.inputs
        values = {
            **forms.form_values(first),
            "product": str(first.get("product") or product),
            "delivery": str(first.get("delivery") or delivery),
        }
    values |= {
        "treatment_date": current.treatment_date.isoformat(),
        "patient_ref": plan.patient_ref,
    }
    return render(
        request,
        "plan_form.html",
        _form_context(
            model,
            values,
            action=f"/plans/{plan_id}/revise",
            plan=plan,
            base_version=plan.latest_version,
        ),
    )


@router.post("/plans/{plan_id}/revise")
async def revise(request: Request, plan_id: str, web: CheckedSession, db: ReadSession) -> Response:
    """Store a new version through the API's revise route (409 if the plan moved on)."""
    form = await request.form()
    model, values, inputs = _submitted(form)
    treatment = model == tf.TREATMENT  # its territories give product and delivery
    body = {
        "reason": form.get("reason") or "",
        "base_version": form.get("base_version") or None,
        "treatment_date": form.get("treatment_date") or None,
        "product": None if treatment else (form.get("product") or None),
        "delivery": None if treatment else (form.get("delivery") or None),
        "model": model,
        "inputs": inputs,
    }
    try:
        try:
            revision = RevisionCreate.model_validate(body)
        except ValidationError as exc:
            raise InvalidInputError(errors_of(exc)) from None
        async with writing(request, web.caller, Role.PLANNER) as wdb:
            plan_api.revise_plan(plan_id, revision, web.caller, wdb, request)
    except (InvalidInputError, InputError, ProblemError) as exc:
        status, detail, errors = problem_text(exc)
        if status == 404:
            return render(request, "error.html", {"detail": detail}, status)
        plan = plan_api.get_plan(plan_id, db, web.caller)
        context = _form_context(
            model,
            {**values, "patient_ref": plan.patient_ref},
            _errors(model, errors),
            action=f"/plans/{plan_id}/revise",
            plan=plan,
            base_version=form.get("base_version"),
            problem=detail,
        )
        return render(request, "plan_form.html", context, status)
    return RedirectResponse(f"/plans/{plan_id}", status_code=303)


@router.get("/plans/{plan_id}/report")
async def report(
    request: Request, plan_id: str, web: SessionOf, db: ReadSession, version: int | None = None
) -> Response:
    """The plan report PDF, built as the API's report route builds it."""
    from fastapi.concurrency import run_in_threadpool

    from y90dose.reports import plan_report_pdf

    try:
        contents = plan_report(load_plan(db, plan_id), version)
    except (InvalidInputError, ProblemError) as exc:
        status, detail, errors = problem_text(exc)
        if errors:
            detail = "; ".join(m for ms in forms.errors_by_field(errors).values() for m in ms)
        return render(request, "error.html", {"detail": detail}, status)
    pdf = await run_in_threadpool(plan_report_pdf, contents)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{report_filename(contents)}"'},
    )


# --- validation ---------------------------------------------------------------------------

VALIDATION_REPORT = HERE.parents[1] / "docs" / "validation.md"
"""The validation report ``y90dose validate --markdown docs/validation.md`` writes."""


@router.get("/validation")
async def validation(request: Request, web: SessionOf) -> Response:
    """The validation report, rendered."""
    html = None
    if VALIDATION_REPORT.is_file():
        from markdown_it import MarkdownIt

        html = (
            MarkdownIt("commonmark", {"html": False})
            .enable("table")
            .render(VALIDATION_REPORT.read_text(encoding="utf-8"))
        )
    return render(request, "validation.html", {"report_html": html, "path": VALIDATION_REPORT})
