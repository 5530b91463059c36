"""The review queue: stored predictions and untagged images in one list, best to label first;
and the suggestions among untagged images (Custom Vision's "suggested" images)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from tagloop.errors import NotFound, RequestInvalid
from tagloop.review.select import rank_for_review, uncertainty
from tagloop.serve.predictor import ImageScore
from tagloop.store.queries import images as image_queries
from tagloop.store.queries import iterations as iteration_queries
from tagloop.store.queries import predictions as prediction_queries
from tagloop.store.records import ImageQuery, ImageRecord, IterationRecord
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.predictions import MAX_SCORED_UNTAGGED, score_contents, tag_results
from tagloop.workspace.projects import list_projects
from tagloop.workspace.training import latest_completed, trained_iteration

logger = logging.getLogger(__name__)

MAX_REVIEW_TAKE = 256


@dataclass(frozen=True)
class ReviewItem:
    """A stored prediction (``kind="prediction"``) or an untagged training image (``"image"``)."""

    kind: str
    id: str
    project_id: str
    created: datetime
    predictions: tuple[dict[str, Any], ...]  # {tag_id, tag_name, tag_type, probability}
    uncertainty: float  # in [0, 1]; higher means the model is less sure, so a label helps more
    unknown: bool = False  # unlike anything the model was trained on (ranked first)
    novelty: float | None = None


@dataclass(frozen=True)
class ReviewQueue:
    iteration: IterationRecord
    items: list[ReviewItem]
    n_candidates: int  # items that could be scored, before ``take``


def review_queue(
    ws: Workspace,
    access: Access,
    project_id: str,
    *,
    iteration_id: str | None = None,
    take: int = 50,
) -> ReviewQueue:
    """The ``take`` items a label would help most, stored predictions and untagged images mixed.

    Every candidate is scored by one iteration (the latest trained one by default): a stored
    prediction made by an older iteration is scored again, so the two kinds compare on one
    scale, and ``predictions`` are that iteration's. The order is
    :func:`~tagloop.review.select.rank_for_review` over the iteration's probabilities and
    features: photos unlike the training images ("unknown") first, then uncertain ones, spread
    over the feature space so near-copies do not fill the top.
    At most the newest ``MAX_SCORED_UNTAGGED`` of each kind are considered.
    """
    if not 0 <= take <= MAX_REVIEW_TAKE:
        raise RequestInvalid(f"take must be between 0 and {MAX_REVIEW_TAKE}.")
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    candidates = _candidates(ws, project_id)
    scored = score_contents(ws, iteration, [(ident, sha) for _, ident, sha, _ in candidates])
    keep = [
        (candidate, score)
        for candidate, score in zip(candidates, scored, strict=True)
        if score is not None
    ]
    if not keep:
        return ReviewQueue(iteration, [], 0)
    proba, scores, order = _ranked(
        [score for _, score in keep], multilabel=iteration.is_multilabel, n_diverse=take
    )
    items = [
        ReviewItem(
            kind=keep[i][0][0],
            id=keep[i][0][1],
            project_id=project_id,
            created=keep[i][0][3],
            predictions=tag_results(iteration, proba[i]),
            uncertainty=round(float(scores[i]), 6),
            unknown=keep[i][1].unknown,
            novelty=keep[i][1].novelty,
        )
        for i in order[:take]
    ]
    logger.debug(
        "project %s: review queue of %d from %d candidates (iteration %s)",
        project_id,
        len(items),
        len(keep),
        iteration.id,
    )
    return ReviewQueue(iteration, items, len(keep))


def prepare_review(ws: Workspace, project_id: str, iteration_id: str) -> int:
    """Score the review candidates with a newly trained iteration, so that the first review
    (the Predictions page) only ranks. Runs in the worker after training; returns how many
    items were scored.
    """
    with ws.session() as session:
        iteration = iteration_queries.get_iteration(
            session, project_id=project_id, iteration_id=iteration_id
        )
    candidates = _candidates(ws, project_id)
    started = time.perf_counter()
    score_contents(ws, iteration, [(ident, sha) for _, ident, sha, _ in candidates])
    logger.info(
        "iteration %s: scored %d review candidates in %.1f s",
        iteration_id,
        len(candidates),
        time.perf_counter() - started,
    )
    return len(candidates)


def prepare_reviews(ws: Workspace) -> int:
    """:func:`prepare_review` for every project's latest trained iteration (at server start:
    the scores live in memory). Returns how many items were scored."""
    everything = Access(role="training")
    scored = 0
    for project in list_projects(ws, everything):
        try:
            iteration = latest_completed(ws, everything, project.id)
        except NotFound:  # never trained: nothing to score with
            continue
        scored += prepare_review(ws, project.id, iteration.id)
    return scored


def _candidates(ws: Workspace, project_id: str) -> list[tuple[str, str, str, datetime]]:
    """(kind, id, sha256, created) of the newest untagged images and stored predictions."""
    with ws.session() as session:
        untagged = image_queries.list_images(
            session,
            project_id=project_id,
            query=ImageQuery(tagging="Untagged", take=MAX_SCORED_UNTAGGED),
        )
        stored = prediction_queries.list_predictions(session, project_id=project_id)
    candidates = [("image", img.id, img.sha256, img.created) for img in untagged]
    candidates += [("prediction", p.id, p.sha256, p.created) for p in stored[:MAX_SCORED_UNTAGGED]]
    return candidates


@dataclass(frozen=True)
class Suggestion:
    """An untagged image with the iteration's prediction and how uncertain it is."""

    image: ImageRecord
    predictions: tuple[dict[str, Any], ...]
    uncertainty: float
    unknown: bool = False
    novelty: float | None = None


def suggest_images(
    ws: Workspace,
    access: Access,
    project_id: str,
    iteration_id: str,
    *,
    tag_ids: Sequence[str] = (),
    threshold: float = 0.0,
) -> list[Suggestion]:
    """Untagged images ranked by how much a label would help (uncertain first, spread out).

    With ``tag_ids``, only images whose probability for one of them is at least ``threshold``.
    """
    iteration, scored = _scored_untagged(ws, access, project_id, iteration_id)
    ids = [str(t["id"]) for t in iteration.tags]
    columns = [ids.index(t) for t in tag_ids if t in ids]
    keep = [
        (img, score)
        for img, score in scored
        if not tag_ids or any(score.proba[j] >= threshold for j in columns)
    ]
    if not keep:
        return []
    proba, scores, order = _ranked([score for _, score in keep], multilabel=iteration.is_multilabel)
    return [
        Suggestion(
            image=keep[i][0],
            predictions=tag_results(iteration, proba[i]),
            uncertainty=round(float(scores[i]), 6),
            unknown=keep[i][1].unknown,
            novelty=keep[i][1].novelty,
        )
        for i in order
    ]


def count_suggested(
    ws: Workspace,
    access: Access,
    project_id: str,
    iteration_id: str,
    *,
    tag_ids: Sequence[str],
    threshold: float,
) -> dict[str, int]:
    """Per tag: untagged images whose probability for it is at least ``threshold``."""
    iteration, scored = _scored_untagged(ws, access, project_id, iteration_id)
    ids = [str(t["id"]) for t in iteration.tags]
    return {
        tag_id: sum(
            1 for _, score in scored if round(float(score.proba[ids.index(tag_id)]), 6) >= threshold
        )
        if tag_id in ids
        else 0
        for tag_id in tag_ids or sorted(ids)
    }


def _scored_untagged(
    ws: Workspace, access: Access, project_id: str, iteration_id: str
) -> tuple[IterationRecord, list[tuple[ImageRecord, ImageScore]]]:
    """The newest untagged images (up to MAX_SCORED_UNTAGGED) with what the iteration's model
    says of them; images that cannot be scored are left out.
    """
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    with ws.session() as session:
        untagged = image_queries.list_images(
            session,
            project_id=project_id,
            query=ImageQuery(tagging="Untagged", take=MAX_SCORED_UNTAGGED),
        )
    scores = score_contents(ws, iteration, [(img.id, img.sha256) for img in untagged])
    return iteration, [
        (img, score) for img, score in zip(untagged, scores, strict=True) if score is not None
    ]


def _ranked(
    scored: Sequence[ImageScore], *, multilabel: bool, **options: Any
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The images' probabilities, their uncertainty, and the order to label them in (unknown
    first, then uncertain, spread over the feature space)."""
    proba = np.stack([score.proba for score in scored])
    order = rank_for_review(
        proba,
        np.stack([score.features for score in scored]),
        multilabel=multilabel,
        unknown=np.array([score.unknown for score in scored], dtype=bool),
        **options,  # rank_for_review's n_diverse, diversity
    )
    return proba, uncertainty(proba, multilabel=multilabel), list(order)
