"""Mounting the pages and their assets on the service app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from tagloop.shells.web import auth, model, projects, review
from tagloop.shells.web.render import STATIC_DIR, LoginRequired, login_redirect


def install_pages(app: FastAPI) -> None:
    app.include_router(auth.router)
    app.include_router(projects.router)
    app.include_router(model.router)
    app.include_router(review.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc.next_path)
