"""The service's resources (database, blobs, loaded models) and who may use them (keys)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from tagloop.config import Settings
from tagloop.errors import ModelNotFound, NotFound, Unauthorized
from tagloop.insights.findings import CheckReport
from tagloop.serve.predictor import ImageScore, OnnxPredictor
from tagloop.store.blobs import BlobStore
from tagloop.store.db import Database, open_database
from tagloop.store.queries import projects as project_queries
from tagloop.store.queries import sessions as session_queries
from tagloop.store.records import IterationRecord
from tagloop.workspace.caches import LruCache, Memo

logger = logging.getLogger(__name__)

KEYS_FILE = "keys.json"
SESSION_DAYS = 30  # a web-page session ends after this, or at logout
N_LOADED_MODELS = 8
N_CACHED_SCORES = 20_000
N_CACHED_CHECK_REPORTS = 32


@dataclass(frozen=True)
class Access:
    """What a key opens: every project (the server's keys) or one project (its own keys)."""

    role: str  # training | prediction
    project_id: str | None = None

    def check(self, project_id: str) -> None:
        """A project outside the key's reach looks exactly like one that does not exist."""
        if self.project_id is not None and self.project_id != project_id:
            raise NotFound("project", project_id)

    @property
    def can_train(self) -> bool:
        return self.role == "training"


@dataclass(frozen=True)
class ServerKeys:
    training: str
    prediction: str
    generated: bool  # created by this start (print them once)


class Workspace:
    def __init__(self, settings: Settings, database: Database, keys: ServerKeys) -> None:
        self.settings = settings
        self.db = database
        self.blobs = BlobStore(settings.data_dir / "blobs")
        self.keys = keys
        self._predictors: OrderedDict[str, OnnxPredictor] = OrderedDict()
        self._predictor_lock = threading.Lock()
        self.jobs_changed = threading.Event()  # set when a job is queued; the worker waits on it
        # (iteration id, image sha256) -> what the model says of it, for review ranking.
        self.scores: LruCache[tuple[str, str], ImageScore] = LruCache(N_CACHED_SCORES)
        # Data-check reports by content key (project, backbone, images, tags, groups).
        self.check_reports: Memo[str, CheckReport] = Memo(N_CACHED_CHECK_REPORTS)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.db.session() as session:
            yield session

    def authorize(self, key: str | None, *, need: str) -> Access:
        """The access a key gives; ``need`` is ``training`` or ``prediction``.

        A training key also opens prediction routes (its holder owns the project).
        """
        access: Access | None = None
        if key:
            for role, server_key in (
                ("training", self.keys.training),
                ("prediction", self.keys.prediction),
            ):
                if secrets.compare_digest(key, server_key):
                    access = Access(role=role)
                    break
            else:
                with self.session() as session:
                    found = project_queries.find_project_by_key(session, key=key)
                access = Access(role=found[1], project_id=found[0].id) if found else None
            if access is not None and (access.can_train or need == "prediction"):
                return access
        raise Unauthorized(
            f"Access denied: send a valid {need} key in the {need.capitalize()}-Key header."
        )

    def open_session(self, key: str) -> str:
        """A web-page session for a training key: returns the token for the cookie (only its
        sha256 is stored). Raises :class:`Unauthorized` for a key that opens nothing."""
        access = self.authorize(key, need="training")
        token = secrets.token_urlsafe(32)
        now = _utcnow()
        with self.session() as session:
            session_queries.delete_expired(session, now=now)
            session_queries.add_session(
                session,
                token_hash=_digest(token),
                role=access.role,
                project_id=access.project_id,
                key_digest=_digest(key),
                expires=now + timedelta(days=SESSION_DAYS),
            )
        return token

    def session_access(self, token: str, *, need: str) -> Access:
        """What a session opens, while it lasts and its key still opens the same thing (a key
        changed or a project deleted ends it)."""
        with self.session() as session:
            row = session_queries.find_session(session, token_hash=_digest(token), now=_utcnow())
            current: str | None = None
            if row is not None:
                if row.project_id is None:
                    current = self.keys.training if row.role == "training" else None
                else:
                    project = project_queries.find_project(session, project_id=row.project_id)
                    current = project.training_key if project is not None else None
            valid = (
                row is not None
                and current is not None
                and secrets.compare_digest(_digest(current), row.key_digest)
            )
            access = Access(role=row.role, project_id=row.project_id) if valid and row else None
        if access is not None and (access.can_train or need == "prediction"):
            return access
        raise Unauthorized(
            "Your session has ended (you logged out, it expired, or its key changed); log in again."
        )

    def close_session(self, token: str) -> None:
        with self.session() as session:
            session_queries.delete_session(session, token_hash=_digest(token))

    def predictor(self, iteration: IterationRecord) -> OnnxPredictor:
        """The loaded model of a completed iteration (kept for the next request)."""
        if iteration.model_sha is None or iteration.model_meta is None:
            raise ModelNotFound(f"iteration {iteration.id} has no trained model")
        with self._predictor_lock:
            predictor = self._predictors.get(iteration.id)
            if predictor is None:
                predictor = OnnxPredictor(
                    self.settings.data_dir,
                    n_threads=self.settings.resolved_threads(),
                    max_pixels=self.settings.max_image_pixels,
                ).load_parts(self.blobs.path(iteration.model_sha), dict(iteration.model_meta))
                self._predictors[iteration.id] = predictor
                while len(self._predictors) > N_LOADED_MODELS:
                    self._predictors.popitem(last=False)
            else:
                self._predictors.move_to_end(iteration.id)
            return predictor

    def forget_predictor(self, iteration_id: str) -> None:
        with self._predictor_lock:
            self._predictors.pop(iteration_id, None)

    def close(self) -> None:
        self.db.dispose()


def open_workspace(settings: Settings) -> Workspace:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = open_database(settings.resolved_database_url())
    return Workspace(settings, database, load_server_keys(settings))


def load_server_keys(settings: Settings) -> ServerKeys:
    """Keys from settings; missing ones are generated once and kept in ``data_dir/keys.json``."""
    path = settings.data_dir / KEYS_FILE
    stored: dict[str, str] = {}
    if path.is_file():
        stored = json.loads(path.read_text())
    generated = False
    for role in ("training", "prediction"):
        if getattr(settings, f"{role}_key") is None and role not in stored:
            stored[role] = secrets.token_hex(16)
            generated = True
    if generated:
        _write_private(path, json.dumps(stored, indent=2) + "\n")
    return ServerKeys(
        training=settings.training_key or stored["training"],
        prediction=settings.prediction_key or stored["prediction"],
        generated=generated,
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _write_private(path: Path, text: str) -> None:
    staging = path.with_suffix(".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(staging, path)
