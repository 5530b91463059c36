"""Prediction (published and quick test), stored predictions, promotion, the review queue."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request

from tagloop.shells.api.deps import prediction_image
from tagloop.shells.api.native.formats import Links, probabilities_out, upload_out
from tagloop.shells.api.native.wire import KeyAccess, P, image_upload_body, native_router
from tagloop.shells.api.schemas import (
    PredictionIdsIn,
    PredictionOut,
    PredictionPageOut,
    PromoteIn,
    ReviewItemOut,
    ReviewOut,
    StoredPredictionOut,
    UploadOut,
)
from tagloop.shells.http import call, get_workspace
from tagloop.workspace import images, predictions, review
from tagloop.workspace.predictions import Answer, PredictionQuery

predict_router = native_router("prediction", need="prediction")
router = native_router("prediction")
review_router = native_router("review")
_ORDER = {"newest": "Newest", "oldest": "Oldest", "suggested": "Suggested"}


def _answer_out(answer: Answer) -> PredictionOut:
    return PredictionOut(
        id=answer.id,
        iteration_id=answer.iteration_id,
        created=answer.created,
        predictions=probabilities_out(answer.predictions),
        is_stored=answer.stored is not None,
        unknown=answer.unknown,
        novelty=answer.novelty,
    )


@predict_router.post(P + "/predict/{published_name}", openapi_extra=image_upload_body(many=False))
async def predict(
    access: KeyAccess, request: Request, project_id: str, published_name: str, store: bool = True
) -> PredictionOut:
    """Classify one image (multipart) with the iteration published as ``published_name``.

    With ``store``, the image and answer are kept for review (GET .../predictions).
    """
    data = await prediction_image(request)
    answer = await call(
        predictions.classify,
        get_workspace(request),
        access,
        project_id,
        published_name,
        data,
        store=store,
    )
    return _answer_out(answer)


@router.post(P + "/quicktest", openapi_extra=image_upload_body(many=False))
async def quick_test(
    access: KeyAccess,
    request: Request,
    project_id: str,
    iteration_id: Annotated[str | None, Query(description="Default: latest trained.")] = None,
    store: bool = False,
) -> PredictionOut:
    """Classify one image (multipart) with any trained iteration, published or not."""
    data = await prediction_image(request)
    answer = await call(
        predictions.quick_test,
        get_workspace(request),
        access,
        project_id,
        data,
        iteration_id=iteration_id or None,
        store=store,
    )
    return _answer_out(answer)


@router.get(P + "/predictions")
async def get_predictions(
    access: KeyAccess,
    request: Request,
    project_id: str,
    order: Literal["newest", "oldest", "suggested"] = "newest",
    skip: Annotated[int, Query(ge=0)] = 0,
    take: Annotated[int, Query(ge=0, le=256)] = 50,
) -> PredictionPageOut:
    """Stored predictions; ``suggested`` puts those a label would help most first."""
    query = PredictionQuery(order_by=_ORDER[order], skip=skip, max_count=take)
    page, has_more = await call(
        predictions.query_predictions, get_workspace(request), access, project_id, query
    )
    links = Links(request)
    return PredictionPageOut(
        predictions=[
            StoredPredictionOut(
                id=p.id,
                iteration_id=p.iteration_id,
                created=p.created,
                width=p.width,
                height=p.height,
                uncertainty=p.uncertainty,
                unknown=p.unknown,
                novelty=p.novelty,
                predictions=probabilities_out(p.results),
                file_url=links.prediction(project_id, p.id),
                thumbnail_url=links.prediction(project_id, p.id, "thumbnail"),
            )
            for p in page
        ],
        has_more=has_more,
    )


@router.post(P + "/predictions/delete", status_code=204)
async def delete_predictions(
    access: KeyAccess, request: Request, project_id: str, body: PredictionIdsIn
) -> None:
    """Delete stored predictions (unknown ids are skipped)."""
    await call(predictions.delete_predictions, get_workspace(request), access, project_id, body.ids)


@router.post(P + "/predictions/promote")
async def promote_predictions(
    access: KeyAccess, request: Request, project_id: str, body: PromoteIn
) -> UploadOut:
    """Turn stored predictions into training images with the given tags.

    A promoted prediction leaves the stored predictions; each item gets an upload status.
    """
    entries = [(item.prediction_id, item.tag_ids) for item in body.items]
    results = await call(
        images.add_images_from_predictions, get_workspace(request), access, project_id, entries
    )
    return upload_out(results, Links(request))


@review_router.get(P + "/review")
async def get_review(
    access: KeyAccess,
    request: Request,
    project_id: str,
    iteration_id: Annotated[str | None, Query(description="Default: latest trained.")] = None,
    take: Annotated[int, Query(ge=0, le=256)] = 50,
) -> ReviewOut:
    """Stored predictions and untagged images in one list, the one a label helps most first.

    One iteration scores every item, so both kinds compare; photos unlike the training images
    (``unknown``) come first, then by uncertainty, spread over the model's feature space so
    near-copies do not crowd the top.
    """
    queue = await call(
        review.review_queue,
        get_workspace(request),
        access,
        project_id,
        iteration_id=iteration_id or None,
        take=take,
    )
    links = Links(request)
    url = {"image": links.image, "prediction": links.prediction}
    return ReviewOut(
        iteration_id=queue.iteration.id,
        n_candidates=queue.n_candidates,
        items=[
            ReviewItemOut(
                kind=item.kind,  # type: ignore[arg-type]
                id=item.id,
                created=item.created,
                thumbnail_url=url[item.kind](project_id, item.id, "thumbnail"),
                file_url=url[item.kind](project_id, item.id, "file"),
                predictions=probabilities_out(item.predictions),
                uncertainty=item.uncertainty,
                unknown=item.unknown,
                novelty=item.novelty,
            )
            for item in queue.items
        ],
    )
