"""Heat-maps: where an iteration's model looks in a stored image, a stored prediction or an
uploaded photo, for one tag (the most probable one by default)."""

from __future__ import annotations

from tagloop.errors import ImageTooLarge, NotFound
from tagloop.serve.explain import Explanation
from tagloop.store.records import IterationRecord
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.images import image_sha
from tagloop.workspace.predictions import prediction_sha
from tagloop.workspace.training import trained_iteration


def explain_image(
    ws: Workspace,
    access: Access,
    project_id: str,
    image_id: str,
    *,
    iteration_id: str | None = None,
    tag_id: str | None = None,
) -> Explanation:
    sha = image_sha(ws, access, project_id, image_id)
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    return _explain(ws, iteration, ws.blobs.read(sha), tag_id)


def explain_prediction(
    ws: Workspace,
    access: Access,
    project_id: str,
    prediction_id: str,
    *,
    iteration_id: str | None = None,
    tag_id: str | None = None,
) -> Explanation:
    sha = prediction_sha(ws, access, project_id, prediction_id)
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    return _explain(ws, iteration, ws.blobs.read(sha), tag_id)


def explain_upload(
    ws: Workspace,
    access: Access,
    project_id: str,
    data: bytes,
    *,
    iteration_id: str | None = None,
    tag_id: str | None = None,
) -> Explanation:
    limit = ws.settings.max_prediction_image_bytes
    if len(data) > limit:
        raise ImageTooLarge(f"The image is {len(data):,} bytes; the limit is {limit:,} bytes.")
    iteration = trained_iteration(ws, access, project_id, iteration_id)
    return _explain(ws, iteration, data, tag_id)


def _explain(
    ws: Workspace, iteration: IterationRecord, data: bytes, tag_id: str | None
) -> Explanation:
    label = None
    if tag_id is not None:
        names = {str(t["id"]): str(t["name"]) for t in iteration.tags}
        if tag_id not in names:
            raise NotFound("tag", tag_id)
        label = names[tag_id]
    predictor = ws.predictor(iteration)
    return predictor.explain(predictor.decode(data), label)
