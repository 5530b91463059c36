"""Training, iterations, their cross-validated performance and per-image results, publishing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from tagloop.shells.api.native.formats import Links, iteration_out, probabilities_out
from tagloop.shells.api.native.wire import I, KeyAccess, P, native_router
from tagloop.shells.api.schemas import (
    ImageResultOut,
    IterationOut,
    IterationUpdateIn,
    MetricsOut,
    PerformanceOut,
    PublishIn,
    ReportOut,
    ResultsOut,
    TagPerformanceOut,
    TagRefOut,
    TrainIn,
)
from tagloop.shells.http import call, get_workspace
from tagloop.workspace import performance, training

router = native_router("training")


@router.post(P + "/train", status_code=202)
async def train_project(
    access: KeyAccess, request: Request, project_id: str, body: TrainIn | None = None
) -> IterationOut:
    """Snapshot the tagged images into a new iteration and queue its training.

    Poll ``GET .../iterations/{id}`` until ``status`` is ``Completed`` or ``Failed``.
    """
    body = body or TrainIn()
    iteration = await call(
        training.start_training,
        get_workspace(request),
        access,
        project_id,
        force=body.force,
        selected_tag_ids=body.tag_ids,
        training_type=body.training_type,
        budget_seconds=body.budget_seconds,
    )
    return iteration_out(iteration)


@router.get(P + "/iterations")
async def get_iterations(
    access: KeyAccess, request: Request, project_id: str
) -> list[IterationOut]:
    """The project's iterations, oldest first."""
    found = await call(training.list_iterations, get_workspace(request), access, project_id)
    return [iteration_out(i) for i in found]


@router.get(I)
async def get_iteration(
    access: KeyAccess, request: Request, project_id: str, iteration_id: str
) -> IterationOut:
    """One iteration; while it trains, ``progress`` tells the stage and how far it got."""
    ws = get_workspace(request)
    iteration = await call(training.get_iteration, ws, access, project_id, iteration_id)
    job = await call(training.training_progress, ws, access, project_id, iteration_id)
    return iteration_out(iteration, job)


@router.post(I + "/cancel")
async def cancel_training(
    access: KeyAccess, request: Request, project_id: str, iteration_id: str
) -> IterationOut:
    """Cancel the iteration's training: a queued job never runs, a running one stops at its
    next step. The iteration ends ``Failed`` with ``error`` "Cancelled by the user."; 409 when
    it is not training."""
    iteration = await call(
        training.cancel_training, get_workspace(request), access, project_id, iteration_id
    )
    return iteration_out(iteration)


@router.patch(I)
async def update_iteration(
    access: KeyAccess, request: Request, project_id: str, iteration_id: str, body: IterationUpdateIn
) -> IterationOut:
    """Rename an iteration."""
    iteration = await call(
        training.rename_iteration,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        body.name,
    )
    return iteration_out(iteration)


@router.delete(I, status_code=204)
async def delete_iteration(
    access: KeyAccess, request: Request, project_id: str, iteration_id: str
) -> None:
    """Delete an iteration and its model (unpublish it first)."""
    await call(training.delete_iteration, get_workspace(request), access, project_id, iteration_id)


@router.get(I + "/performance")
async def get_performance(
    access: KeyAccess,
    request: Request,
    project_id: str,
    iteration_id: str,
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.5,
) -> PerformanceOut:
    """The iteration's out-of-fold predictions evaluated at ``threshold``: precision, recall,
    F1, accuracy and coverage overall, per tag (with average precision and the 2x2 counts),
    and as a report with the confusion matrix. The pages and the Custom Vision routes show the
    same evaluation."""
    perf = await call(
        performance.iteration_performance,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        threshold=threshold,
    )
    report = perf.report
    return PerformanceOut(
        iteration_id=iteration_id,
        threshold=perf.threshold,
        overall=MetricsOut(
            precision=report.precision,
            recall=report.recall,
            f1=report.f1,
            average_precision=report.macro_average_precision or 0.0,
            macro_f1=report.macro_f1,
            accuracy=report.accuracy,
            coverage=report.coverage,
        ),
        per_tag=[
            TagPerformanceOut(
                id=str(tag["id"]),
                name=str(tag["name"]),
                type=str(tag.get("type", "")),
                **{**m.to_dict(), "average_precision": m.average_precision or 0.0},
            )
            for tag, m in perf.tag_metrics()
        ],
        report=ReportOut.model_validate(report.to_dict()),
    )


@router.get(I + "/results")
async def get_results(
    access: KeyAccess,
    request: Request,
    project_id: str,
    iteration_id: str,
    wrong_only: bool = False,
    tag_id: Annotated[str | None, Query(description="Only images truly tagged so.")] = None,
    predicted_tag_id: Annotated[
        str | None,
        Query(description="Only images given this tag at the threshold ('none': given none)."),
    ] = None,
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.5,
    skip: Annotated[int, Query(ge=0)] = 0,
    take: Annotated[int, Query(ge=0, le=256)] = 50,
) -> ResultsOut:
    """Each training image's out-of-fold prediction, oldest first, with the tags it is given
    at ``threshold`` (as in the performance route); ``correct`` when those equal the true
    ones."""
    ws = get_workspace(request)
    iteration = await call(training.get_iteration, ws, access, project_id, iteration_id)
    results = await call(
        performance.image_results,
        ws,
        access,
        project_id,
        iteration_id,
        tag_ids=[tag_id] if tag_id else [],
        only_wrong=wrong_only,
        predicted_tag_id=predicted_tag_id,
        threshold=threshold,
    )
    names = {str(t["id"]): str(t["name"]) for t in iteration.tags}
    links = Links(request)

    def refs(tag_ids: tuple[str, ...]) -> list[TagRefOut]:
        return [TagRefOut(id=t, name=names.get(t, "")) for t in tag_ids]

    return ResultsOut(
        total=len(results),
        results=[
            ImageResultOut(
                image_id=r.image.image_id,
                thumbnail_url=links.image(project_id, r.image.image_id, "thumbnail"),
                true_tags=refs(r.true_tag_ids),
                predicted_tags=refs(r.predicted_tag_ids),
                predictions=probabilities_out(
                    [
                        {"tag_id": t, "tag_name": names.get(t, ""), "probability": p}
                        for t, p in r.predictions
                    ]
                ),
                correct=r.is_correct,
            )
            for r in results[skip : skip + take]
        ],
    )


@router.post(I + "/publish")
async def publish_iteration(
    access: KeyAccess, request: Request, project_id: str, iteration_id: str, body: PublishIn
) -> IterationOut:
    """Publish a trained iteration under ``name`` for the prediction route."""
    iteration = await call(
        training.publish_iteration,
        get_workspace(request),
        access,
        project_id,
        iteration_id,
        publish_name=body.name,
        overwrite=body.overwrite,
    )
    return iteration_out(iteration)


@router.delete(I + "/publish", status_code=204)
async def unpublish_iteration(
    access: KeyAccess, request: Request, project_id: str, iteration_id: str
) -> None:
    """Withdraw the iteration's publish name."""
    await call(
        training.unpublish_iteration, get_workspace(request), access, project_id, iteration_id
    )
