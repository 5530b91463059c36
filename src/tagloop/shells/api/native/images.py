"""Training images: list, upload, tag, untag, delete, metadata."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Body, Query, Request

from tagloop.errors import NotFound, RequestInvalid
from tagloop.shells.api.deps import csv_ids, image_parts, uploads_of
from tagloop.shells.api.native.formats import Links, image_out, upload_out
from tagloop.shells.api.native.wire import KeyAccess, P, image_upload_body, native_router
from tagloop.shells.api.schemas import (
    DeletedOut,
    ImageIdsIn,
    ImagePageOut,
    ImageTagsAddIn,
    ImageTagsIn,
    ImageTagsOut,
    MetadataOut,
    TagLinkOut,
    UploadOut,
)
from tagloop.shells.http import call, get_workspace
from tagloop.store.records import ImageQuery
from tagloop.types import ImageStatus
from tagloop.workspace import images

router = native_router("images")
_TAGGING = {"all": "All", "tagged": "Tagged", "untagged": "Untagged"}


@router.get(P + "/images")
async def get_images(
    access: KeyAccess,
    request: Request,
    project_id: str,
    tagging: Literal["all", "tagged", "untagged"] = "all",
    tag_id: Annotated[
        str | None, Query(description="Only images with this tag (comma-separate several).")
    ] = None,
    order: Literal["newest", "oldest"] = "newest",
    skip: Annotated[int, Query(ge=0)] = 0,
    take: Annotated[int, Query(ge=0, le=256)] = 50,
) -> ImagePageOut:
    """A page of the project's images, and how many match the filter in all."""
    ws = get_workspace(request)
    query = ImageQuery(
        tagging=_TAGGING[tagging],
        tag_ids=tuple(csv_ids(tag_id, "tag_id", limit=20)),
        newest_first=order == "newest",
        skip=skip,
        take=take,
    )
    page = await call(images.list_images, ws, access, project_id, query)
    total = await call(images.count_images, ws, access, project_id, query)
    links = Links(request)
    return ImagePageOut(total=total, images=[image_out(i, links) for i in page])


@router.post(P + "/images", openapi_extra=image_upload_body(many=True))
async def upload_images(
    access: KeyAccess,
    request: Request,
    project_id: str,
    tag_ids: Annotated[
        str | None, Query(description="Comma-separated tag ids given to every image.")
    ] = None,
) -> UploadOut:
    """Upload images as multipart parts (any field names); each gets a status.

    Statuses: ``OK``, ``OKDuplicate`` (the same bytes are already in the project) or an
    ``Error*`` with a reason. A failed file does not stop the others.
    """
    ws = get_workspace(request)
    wanted = csv_ids(tag_ids, "tag_ids", limit=20)
    limit, most = ws.settings.max_training_image_bytes, ws.settings.max_batch_images
    async with image_parts(request, limit=limit, max_parts=most) as parts:
        uploads = uploads_of(parts, limit)
        results = await call(images.add_images, ws, access, project_id, uploads, tag_ids=wanted)
    return upload_out(results, Links(request))


@router.post(P + "/images/tags")
async def tag_images(
    access: KeyAccess, request: Request, project_id: str, body: ImageTagsAddIn
) -> ImageTagsOut:
    """Give every listed image every listed tag (``replace``: instead of its other tags)."""
    pairs = [(i, t) for i in body.image_ids for t in body.tag_ids]
    created, duplicated, exceeded = await call(
        images.tag_images, get_workspace(request), access, project_id, pairs, replace=body.replace
    )

    def links_out(found: list[tuple[str, str]]) -> list[TagLinkOut]:
        return [TagLinkOut(image_id=i, tag_id=t) for i, t in found]

    return ImageTagsOut(
        created=links_out(created),
        duplicated=links_out(duplicated),
        exceeded=links_out(exceeded),
    )


@router.post(P + "/images/untag", status_code=204)
async def untag_images(
    access: KeyAccess, request: Request, project_id: str, body: ImageTagsIn
) -> None:
    """Remove every listed tag from every listed image (missing links are ignored)."""
    await call(
        images.untag_images,
        get_workspace(request),
        access,
        project_id,
        body.image_ids,
        body.tag_ids,
    )


@router.post(P + "/images/delete")
async def delete_images(
    access: KeyAccess, request: Request, project_id: str, body: ImageIdsIn
) -> DeletedOut:
    """Delete images (unknown ids are skipped); iterations keep what they trained on."""
    n_deleted = await call(
        images.delete_images, get_workspace(request), access, project_id, body.image_ids
    )
    return DeletedOut(n_deleted=n_deleted)


@router.put(P + "/images/{image_id}/metadata")
async def update_image_metadata(
    access: KeyAccess,
    request: Request,
    project_id: str,
    image_id: str,
    metadata: Annotated[dict[str, str], Body(examples=[{"group": "shoot-3"}])],
) -> MetadataOut:
    """Merge string key/values into the image's metadata (at most 10 entries per image).

    The key ``group`` keeps images together in one cross-validation fold.
    """
    [(_, status, merged)] = await call(
        images.update_metadata, get_workspace(request), access, project_id, [image_id], metadata
    )
    if status == ImageStatus.IMAGE_NOT_FOUND:
        raise NotFound("image", image_id)
    if status != ImageStatus.OK:
        raise RequestInvalid(
            f"The image would have more than {images.MAX_METADATA_ENTRIES} entries."
        )
    return MetadataOut(image_id=image_id, metadata=merged)
