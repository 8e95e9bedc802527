"""The web interface at ``/``: server-rendered pages (Jinja2) over the API's own routes.

A little htmx (vendored, see ``static/vendor/VENDORED.md``) sends the plan form as the
user types and swaps in the result and findings; everything else is plain HTML forms.
Nothing is fetched from another site at run time, and no Node build is needed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"


def mount_web(app: FastAPI) -> None:
    """Serve the pages at ``/`` and their files at ``/static`` on ``app``."""
    from y90dose_service.web import dose_pages, pages
    from y90dose_service.web.sessions import SessionStore

    app.state.web_sessions = SessionStore()

    async def sign_in_first(request: Request, _exc: Exception) -> Response:
        if request.method == "GET":
            return RedirectResponse("/signin", status_code=303)
        return pages.render(
            request,
            "error.html",
            {"detail": "Your session has ended; sign in again.", "signin": True},
            401,
        )

    async def csrf_refused(request: Request, _exc: Exception) -> Response:
        return pages.render(
            request,
            "error.html",
            {
                "detail": "Refused: this request did not come from a page of this site "
                "(missing or wrong CSRF token, or another origin). Nothing was changed; "
                "reload the page and try again."
            },
            403,
        )

    app.add_exception_handler(pages.SignInRequiredError, sign_in_first)
    app.add_exception_handler(pages.CsrfRefusedError, csrf_refused)
    app.include_router(pages.router)
    app.include_router(dose_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
