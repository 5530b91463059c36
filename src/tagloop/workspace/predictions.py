"""Prediction: classify with a published iteration, store what was asked, rank it for review."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import numpy as np

from tagloop.errors import ImageTooLarge, ImageUnreadable, NotFound
from tagloop.ingest.fetch import fetch_image_url
from tagloop.review.select import rank_for_review, uncertainty
from tagloop.serve.predictor import ImageScore
from tagloop.store.queries import iterations as iteration_queries
from tagloop.store.queries import predictions as queries
from tagloop.store.queries import projects as project_queries
from tagloop.store.records import IterationRecord, PredictionRecord
from tagloop.types import TagType
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.projects import collect_blobs
from tagloop.workspace.training import get_iteration, latest_completed

logger = logging.getLogger(__name__)

MAX_SCORED_UNTAGGED = 5000  # untagged images scored per suggestion query
PAGE_ROWS = 500  # stored predictions read at a time while filtering a page by tag


@dataclass(frozen=True)
class Answer:
    """What the prediction endpoint answers: one probability per tag, highest first, and
    whether the photo is unlike anything the model was trained on."""

    id: str
    project_id: str
    iteration_id: str
    created: datetime
    predictions: tuple[dict[str, Any], ...]  # {tag_id, tag_name, tag_type, probability}
    stored: PredictionRecord | None = None
    unknown: bool = False
    novelty: float | None = None  # None: the model was packaged before novelty


def read_url(ws: Workspace, url: str) -> bytes:
    return fetch_image_url(
        url,
        timeout=ws.settings.url_timeout_seconds,
        max_bytes=ws.settings.max_prediction_image_bytes,
        allow_private=ws.settings.allow_private_urls,
    )


def classify(
    ws: Workspace,
    access: Access,
    project_id: str,
    publish_name: str,
    data: bytes,
    *,
    store: bool = True,
    application: str | None = None,
) -> Answer:
    """Classify with the iteration published as ``publish_name``."""
    access.check(project_id)
    with ws.session() as session:
        iteration = iteration_queries.find_published(
            session, project_id=project_id, publish_name=publish_name
        )
    return _predict(ws, iteration, data, store=store, application=application)


def quick_test(
    ws: Workspace,
    access: Access,
    project_id: str,
    data: bytes,
    *,
    iteration_id: str | None = None,
    store: bool = True,
) -> Answer:
    """Classify with any trained iteration (the latest by default), published or not."""
    if iteration_id:
        iteration = get_iteration(ws, access, project_id, iteration_id)
    else:
        iteration = latest_completed(ws, access, project_id)
    return _predict(ws, iteration, data, store=store, application=None)


@dataclass(frozen=True)
class PredictionQuery:
    iteration_id: str | None = None
    application: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    tag_windows: tuple[tuple[str, float, float], ...] = ()  # (tag_id, min, max)
    order_by: str = "Newest"  # Newest | Oldest | Suggested
    skip: int = 0
    max_count: int = 50


def query_predictions(
    ws: Workspace, access: Access, project_id: str, query: PredictionQuery
) -> tuple[list[PredictionRecord], bool]:
    """Stored predictions matching ``query``; returns (page, whether more follow)."""
    access.check(project_id)
    if query.order_by == "Suggested":  # ranks them all (at most the retention limit)
        found = [p for p in _matching(ws, project_id, query) if _in_windows(p, query.tag_windows)]
        found = [found[i] for i in _rank_predictions(ws, found)]
        page = found[query.skip : query.skip + query.max_count]
        return page, query.skip + query.max_count < len(found)
    # By date: pages come from the database, and only as many rows as the page needs (plus
    # one, to know whether more follow) are read, PAGE_ROWS at a time while filtering by tag.
    wanted = query.skip + query.max_count + 1
    if not query.tag_windows:
        rows = _matching(ws, project_id, query, skip=query.skip, take=query.max_count + 1)
        return rows[: query.max_count], len(rows) > query.max_count
    kept: list[PredictionRecord] = []
    offset = 0
    while len(kept) < wanted:
        rows = _matching(ws, project_id, query, skip=offset, take=PAGE_ROWS)
        kept += [p for p in rows if _in_windows(p, query.tag_windows)]
        offset += PAGE_ROWS
        if len(rows) < PAGE_ROWS:
            break
    page = kept[query.skip : query.skip + query.max_count]
    return page, len(kept) > query.skip + query.max_count


def _matching(
    ws: Workspace,
    project_id: str,
    query: PredictionQuery,
    *,
    skip: int = 0,
    take: int | None = None,
) -> list[PredictionRecord]:
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        return queries.list_predictions(
            session,
            project_id=project_id,
            iteration_id=query.iteration_id,
            application=query.application,
            start=query.start,
            end=query.end,
            newest_first=query.order_by != "Oldest",
            skip=skip,
            take=take,
        )


def delete_predictions(
    ws: Workspace, access: Access, project_id: str, prediction_ids: Sequence[str]
) -> None:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        shas = queries.delete_predictions(
            session, project_id=project_id, prediction_ids=prediction_ids
        )
    collect_blobs(ws, shas)


def prediction_sha(ws: Workspace, access: Access, project_id: str, prediction_id: str) -> str:
    access.check(project_id)
    with ws.session() as session:
        found = queries.get_predictions(
            session, project_id=project_id, prediction_ids=[prediction_id]
        )
    if prediction_id not in found:
        raise NotFound("prediction", prediction_id)
    return found[prediction_id].sha256


def _predict(
    ws: Workspace,
    iteration: IterationRecord,
    data: bytes,
    *,
    store: bool,
    application: str | None,
) -> Answer:
    limit = ws.settings.max_prediction_image_bytes
    if len(data) > limit:
        raise ImageTooLarge(f"The image is {len(data):,} bytes; the limit is {limit:,} bytes.")
    predictor = ws.predictor(iteration)
    pixels, (width, height) = predictor.decode_with_size(data)  # raises ImageUnreadable
    scored = predictor.score(pixels[None]).rows()[0]
    results = _results(iteration, scored.proba)
    score = float(uncertainty(scored.proba[None], multilabel=predictor.is_multilabel)[0])
    if not store:
        return Answer(
            str(uuid4()),
            iteration.project_id,
            iteration.id,
            _utcnow(),
            results,
            unknown=scored.unknown,
            novelty=scored.novelty,
        )
    sha = ws.blobs.sha_of(data)
    with ws.blobs.pin(sha), ws.session() as session:  # the row commits before the pin goes
        ws.blobs.put(data)
        record = queries.add_prediction(
            session,
            project_id=iteration.project_id,
            iteration_id=iteration.id,
            domain_id=iteration.domain_id,
            sha256=sha,
            width=width,
            height=height,
            application=application,
            results=results,
            uncertainty=score,
            novelty=scored.novelty,
            unknown=scored.unknown,
        )
        # Retention: the oldest beyond the count, and those past the age, go (their images too).
        dropped = queries.trim_predictions(
            session,
            project_id=iteration.project_id,
            keep=ws.settings.stored_predictions_per_project,
            created_before=_utcnow() - timedelta(days=ws.settings.stored_prediction_days),
            spare=record.id,
        )
    collect_blobs(ws, dropped)  # only blobs nothing else refers to (the new one is referred to)
    ws.scores.put((iteration.id, sha), scored)
    return Answer(
        record.id,
        record.project_id,
        iteration.id,
        record.created,
        results,
        record,
        unknown=scored.unknown,
        novelty=scored.novelty,
    )


def _results(iteration: IterationRecord, row: np.ndarray) -> tuple[dict[str, Any], ...]:
    order = np.argsort(-row, kind="stable")
    return tuple(
        {
            "tag_id": str(iteration.tags[j]["id"]),
            "tag_name": str(iteration.tags[j]["name"]),
            "tag_type": str(iteration.tags[j].get("type", TagType.REGULAR)),
            "probability": round(float(row[j]), 6),
        }
        for j in order
    )


def _in_windows(pred: PredictionRecord, windows: Sequence[tuple[str, float, float]]) -> bool:
    probs = {r["tag_id"]: r["probability"] for r in pred.results}
    return all(lo <= probs.get(tag_id, 0.0) <= hi for tag_id, lo, hi in windows)


def _rank_predictions(ws: Workspace, preds: list[PredictionRecord]) -> list[int]:
    """Stored predictions by review value (most useful first).

    Predictions of one iteration are ranked together with their features (uncertainty spread
    over the embedding space); predictions of different iterations (different tags, maybe
    different backbones) cannot be compared that way and are ordered by their stored uncertainty.
    """
    if not preds:
        return []
    iteration_ids = {p.iteration_id for p in preds}
    if len(iteration_ids) > 1:
        return sorted(
            range(len(preds)), key=lambda i: (not preds[i].unknown, -preds[i].uncertainty)
        )
    with ws.session() as session:
        iteration = iteration_queries.get_iteration(
            session, project_id=preds[0].project_id, iteration_id=preds[0].iteration_id
        )
    tag_order = [str(t["id"]) for t in iteration.tags]
    proba = np.array(
        [
            [{r["tag_id"]: r["probability"] for r in p.results}.get(t, 0.0) for t in tag_order]
            for p in preds
        ]
    ).reshape(len(preds), len(tag_order))
    cached = [ws.scores.get((p.iteration_id, p.sha256)) for p in preds]
    features = None
    if all(c is not None for c in cached):
        features = np.stack([c.features for c in cached if c is not None])
    multilabel = iteration.is_multilabel
    unknown = np.array([p.unknown for p in preds], dtype=bool)
    return [
        int(i) for i in rank_for_review(proba, features, multilabel=multilabel, unknown=unknown)
    ]


def score_contents(
    ws: Workspace, iteration: IterationRecord, contents: Sequence[tuple[str, str]]
) -> list[ImageScore | None]:
    """What the iteration's model says of each stored ``(id, sha256)``.

    Cached per content, so images and stored predictions share the work; the id only names
    the item in warnings. Contents that cannot be read or decoded give None.
    """
    out: list[ImageScore | None] = []
    missing = {sha: ident for ident, sha in contents if (iteration.id, sha) not in ws.scores}
    todo = list(missing.items())
    if todo:
        predictor = ws.predictor(iteration)
        batch = ws.settings.batch_size
        for start in range(0, len(todo), batch):
            chunk, pixels = [], []
            for sha, ident in todo[start : start + batch]:
                try:
                    pixels.append(predictor.decode(ws.blobs.read(sha)))
                    chunk.append(sha)
                except (ImageUnreadable, OSError) as exc:
                    logger.warning("cannot score image %s: %s", ident, exc)
            if pixels:
                rows = predictor.score(np.stack(pixels)).rows()
                for sha, row in zip(chunk, rows, strict=True):
                    ws.scores.put((iteration.id, sha), row)
    for _, sha in contents:
        out.append(ws.scores.get((iteration.id, sha)))
    return out


def tag_results(iteration: IterationRecord, row: np.ndarray) -> tuple[dict[str, Any], ...]:
    """One ``{tag_id, tag_name, tag_type, probability}`` per tag of the iteration, highest first."""
    return _results(iteration, row)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
