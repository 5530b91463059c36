"""``create_app(settings)``: the HTTP service — web pages, native API, Custom Vision routes.

This module puts the shells together (the API and the pages never import each other).

Errors are mapped once, here: Custom Vision paths get Custom Vision's flat error bodies, pages
an HTML error page, every other path the native shape. Unexpected exceptions are logged with
their traceback once.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import swagger_ui_bundle
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagloop import __version__
from tagloop.config import Settings
from tagloop.errors import TagloopError
from tagloop.shells.api import cv_iterations, cv_prediction, cv_projects, cv_training, native
from tagloop.shells.api.errors import custom_vision_error, native_code, native_status
from tagloop.shells.http import request_key
from tagloop.shells.limits import KeyConcurrencyLimiter, KeyRateLimiter
from tagloop.shells.web.app import install_pages
from tagloop.shells.web.render import error_page, is_page
from tagloop.workspace.context import open_workspace
from tagloop.workspace.jobs import Worker
from tagloop.workspace.review import prepare_review, prepare_reviews

logger = logging.getLogger(__name__)

TRAINING_VERSIONS = ("v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview")
PREDICTION_VERSIONS = ("v3.0", "v3.1")


def create_app(settings: Settings, *, run_worker: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ws = open_workspace(settings)
        app.state.workspace = ws
        app.state.url_fetch_slots = anyio.CapacityLimiter(settings.max_concurrent_url_fetches)
        worker = (
            Worker(ws, after_training=prepare_review, at_start=prepare_reviews)
            if run_worker
            else None
        )
        if worker is not None:
            worker.start()
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            ws.close()

    app = FastAPI(
        title="tagloop",
        version=__version__,
        summary="Build, evaluate, improve and serve image classifiers.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default loads a CDN
        redoc_url=None,
    )
    _install_api_reference(app)
    for version in TRAINING_VERSIONS:
        for router in (cv_projects.router, cv_training.router, cv_iterations.router):
            app.include_router(
                router, prefix=f"/customvision/{version}/training", include_in_schema=False
            )
    for version in PREDICTION_VERSIONS:
        app.include_router(
            cv_prediction.router,
            prefix=f"/customvision/{version}/prediction",
            include_in_schema=False,
        )
    app.include_router(native.router, prefix="/api/v1")
    _install_custom_vision_reference(app)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness check; the only route that needs no key."""
        return {"status": "ok", "version": __version__}

    install_pages(app)
    _install_error_handlers(app)
    app.add_middleware(_AnswerUnexpectedErrors)
    # Added last, so it runs first: a limited request costs nothing further.
    limiter = KeyRateLimiter(settings.requests_per_minute_per_key)
    in_flight = KeyConcurrencyLimiter(settings.max_concurrent_requests_per_key)
    app.add_middleware(_LimitRequestRate, limiter=limiter, in_flight=in_flight)
    return app


def _install_api_reference(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package's files (works offline)."""
    app.mount(
        "/static/swagger",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger",
    )

    @app.get("/docs", include_in_schema=False)
    def api_reference() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="tagloop API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )


def _custom_vision_document() -> dict[str, Any]:
    """The Custom Vision routes (the newest training and prediction versions; the older
    versions are the same routes under their own prefix), as an OpenAPI document of their own."""
    described = APIRouter()
    for router in (cv_projects.router, cv_training.router, cv_iterations.router):
        described.include_router(router, prefix=f"/customvision/{TRAINING_VERSIONS[-1]}/training")
    described.include_router(
        cv_prediction.router, prefix=f"/customvision/{PREDICTION_VERSIONS[-1]}/prediction"
    )
    return get_openapi(
        title="tagloop: Custom Vision API",
        version=__version__,
        summary="The Azure Custom Vision training and prediction routes tagloop serves "
        f"(also under /customvision/{{{', '.join(TRAINING_VERSIONS)}}}/training and "
        f"/customvision/{{{', '.join(PREDICTION_VERSIONS)}}}/prediction).",
        routes=described.routes,
    )


def _install_custom_vision_reference(app: FastAPI) -> None:
    document = _custom_vision_document()

    @app.get("/customvision/openapi.json", include_in_schema=False)
    def custom_vision_openapi() -> dict[str, Any]:
        return document

    @app.get("/customvision/docs", include_in_schema=False)
    def custom_vision_reference() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/customvision/openapi.json",
            title="tagloop Custom Vision API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )


def _is_custom_vision(request: Request) -> bool:
    return request.url.path.startswith("/customvision/")


def _error(
    request: Request,
    status: int,
    cv_code: str,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error in the shape the asker reads; ``headers`` (a 405's ``Allow``) kept."""
    response: Response
    if is_page(request):
        response = error_page(request, status, message)
    elif _is_custom_vision(request):
        response = JSONResponse({"code": cv_code, "message": message}, status_code=status)
    else:
        body = {"ok": False, "error": message, "code": code, "status": status}
        response = JSONResponse(body, status_code=status)
    response.headers.update(headers or {})
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TagloopError)
    async def tagloop_error(request: Request, exc: TagloopError) -> Response:
        if _is_custom_vision(request):
            status, cv_code = custom_vision_error(exc)
        else:
            status, cv_code = native_status(exc), ""
        return _error(request, status, cv_code, native_code(exc), exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return _error(request, 400, "BadRequest", "request_invalid", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        cv_code = {404: "NotFound", 405: "BadRequestNotSupported"}.get(
            exc.status_code, "BadRequest"
        )
        code = {404: "route_not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return _error(request, exc.status_code, cv_code, code, str(exc.detail), exc.headers)


MAX_LOGGED_LINE = 500  # characters of one traceback line in the log (a failed SQL can be huge)


class _AnswerUnexpectedErrors:
    """Turns an exception no handler took into a 500 in the asker's shape, logged once.

    Starlette's own last-resort handler answers and then raises the exception again for the
    server to log, so every 500 was logged twice; here it is answered and logged once, with
    each traceback line cut to ``MAX_LOGGED_LINE`` characters.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answered = False

        async def watch(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if answered:  # too late to answer: the server closes the connection
                raise
            request = Request(scope)
            lines = "".join(traceback.format_exception(exc)).splitlines()
            logger.error(
                "unexpected error on %s %s\n%s",
                request.method,
                request.url.path,
                "\n".join(line[:MAX_LOGGED_LINE] for line in lines),
            )
            response = _error(
                request,
                500,
                "ErrorUnknown",
                "internal_error",
                "Internal error; see the server log.",
            )
            await response(scope, receive, send)


class _LimitRequestRate:
    """429 with ``Retry-After`` for a key over its rate, or with too many requests in flight
    (see :mod:`tagloop.shells.limits`)."""

    def __init__(
        self, app: ASGIApp, limiter: KeyRateLimiter, in_flight: KeyConcurrencyLimiter
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = request_key(request, "prediction")  # any key header, or the page session
        if not key:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(key)
        if wait:
            message = f"Too many requests with this key; try again in {wait} s."
            await self._refuse(request, message, wait)(scope, receive, send)
            return
        if not self.in_flight.enter(key):
            message = (
                f"This key has {self.in_flight.limit} requests in flight already; wait for one "
                "to finish and try again."
            )
            await self._refuse(request, message, 1)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.leave(key)

    @staticmethod
    def _refuse(request: Request, message: str, wait: int) -> Response:
        return _error(
            request,
            429,
            "BadRequestExceededQuota",
            "rate_limited",
            message,
            {"Retry-After": str(wait)},
        )
