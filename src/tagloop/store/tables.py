"""SQLAlchemy tables of the service: projects, tags, images, iterations, predictions, jobs.

Portable SQL only (SQLite by default, PostgreSQL by URL). Ids are UUID strings; times are naive
UTC. Changes to these tables need an Alembic migration in ``store/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tagloop.types import TagType


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid4())


class Base(DeclarativeBase):
    # Named constraints, so that later migrations can alter them on SQLite and PostgreSQL alike.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    classification_type: Mapped[str] = mapped_column(String(20))  # Multiclass | Multilabel
    domain_id: Mapped[str] = mapped_column(String(36))
    backbone: Mapped[str] = mapped_column(String(100))
    training_key: Mapped[str] = mapped_column(String(64), unique=True)
    prediction_key: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20), default=TagType.REGULAR)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImageRow(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("project_id", "sha256"),
        Index("ix_images_project_created", "project_id", "created"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    n_bytes: Mapped[int] = mapped_column(Integer)
    dhash: Mapped[str] = mapped_column(String(64))  # hex
    source_name: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImageTagRow(Base):
    __tablename__ = "image_tags"

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[str] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImageMetadataRow(Base):
    __tablename__ = "image_metadata"

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class IterationRow(Base):
    __tablename__ = "iterations"
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        UniqueConstraint("project_id", "publish_name"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # Training | Completed | Failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    classification_type: Mapped[str] = mapped_column(String(20))
    domain_id: Mapped[str] = mapped_column(String(36))
    backbone: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    trained_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    training_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # The workspace this iteration trains on: a fingerprint of its images and tags.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Tags the model was trained on, in model label order: [{id, name, type}].
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    model_sha: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    publish_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    publish_resource_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # "quick" or "advanced" (asked for); an advanced budget in seconds, the most it may take.
    training_type: Mapped[str] = mapped_column(String(20), default="quick")
    budget_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class IterationImageRow(Base):
    """The images an iteration trained on, their tags then, and their out-of-fold predictions."""

    __tablename__ = "iteration_images"

    iteration_id: Mapped[str] = mapped_column(
        ForeignKey("iterations.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime)
    tag_ids: Mapped[list[str]] = mapped_column(JSON)
    # Out-of-fold probabilities in the iteration's tag order; null until training completes.
    proba: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)


class PredictionRow(Base):
    """A stored prediction: an image the prediction endpoint was asked about, and its answer."""

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_project_created", "project_id", "created"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    iteration_id: Mapped[str] = mapped_column(String(36), index=True)
    domain_id: Mapped[str] = mapped_column(String(36))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    application: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # [{tag_id, tag_name, tag_type, probability}], highest first.
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    uncertainty: Mapped[float] = mapped_column(Float)
    # How unlike the model's training images; NULL for models packaged before novelty.
    novelty: Mapped[float | None] = mapped_column(Float, nullable=True)
    unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SessionRow(Base):
    """A web-page session: the cookie holds a random token, this row its sha256 and what it
    opens. Logging out deletes the row; it also ends when it expires or when the key it was
    opened with no longer opens the same thing (``key_digest``)."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    key_digest: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime, index=True)


class JobRow(Base):
    """Durable background work (training). A job left ``running`` by a crash is recovered."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    iteration_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # queued | running | done | failed | cancelled (by the user; never run or recovered again)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
