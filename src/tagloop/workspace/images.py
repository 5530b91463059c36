"""Training images: upload (deduplicated by content), list, tag, untag, metadata, delete.

Over 400 lines on purpose: uploads and tagging enforce the same tag rules (one tag per
multiclass image, a Negative tag alone, the per-image and per-batch limits), and keeping them
in one module keeps each rule in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from tagloop.errors import (
    BatchTooLarge,
    ImageTooLarge,
    ImageTooManyPixels,
    ImageUnreadable,
    ImageUrlInvalid,
    NotFound,
    OneTagPerImage,
    RequestInvalid,
)
from tagloop.ingest.decode import make_thumbnail, open_image, sha256_bytes
from tagloop.ingest.fetch import fetch_image_url
from tagloop.store.queries import images as queries
from tagloop.store.queries import iterations as iteration_queries
from tagloop.store.queries import predictions as prediction_queries
from tagloop.store.queries import projects as project_queries
from tagloop.store.records import (
    ImageQuery,
    ImageRecord,
    TagRecord,
)
from tagloop.types import ImageInfo, ImageStatus, TagType
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.projects import collect_blobs

logger = logging.getLogger(__name__)

MAX_TAGS_PER_IMAGE = 50
MAX_METADATA_ENTRIES = 10


@dataclass(frozen=True)
class Upload:
    """One image to add: its bytes (or how to read them, or the reason there are none), name
    and tags.

    ``data`` may be a function that returns the bytes: :func:`add_images` calls it when it comes
    to this image, so a large batch is held in memory one image at a time. It raises
    :class:`ImageUnreadable` when the bytes turn out not to be an image's (e.g. bad base64).
    """

    source: str  # file name or URL, echoed back
    data: bytes | Callable[[], bytes] | None
    tag_ids: tuple[str, ...] = ()
    error: ImageStatus | None = None  # why the bytes could not be had
    reason: str | None = None


@dataclass(frozen=True)
class AddedImage:
    source: str
    status: ImageStatus
    image: ImageRecord | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status.accepted


def add_images(
    ws: Workspace,
    access: Access,
    project_id: str,
    uploads: Sequence[Upload],
    *,
    tag_ids: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
) -> list[AddedImage]:
    """Add images; each gets a status, in input order. Nothing is half-added."""
    access.check(project_id)
    check_batch(ws, len(uploads))
    metadata = check_metadata(metadata or {})
    with ws.session() as session:
        project = project_queries.get_project(session, project_id=project_id)
        tags = {t.id: t for t in project_queries.list_tags(session, project_id=project_id)}
    results = []
    for upload in uploads:
        results.append(
            _add_one(
                ws,
                project_id,
                upload,
                (*tag_ids, *upload.tag_ids),
                tags,
                metadata,
                is_multilabel=project.is_multilabel,
            )
        )
    logger.info(
        "project %s: %d images uploaded, %d added",
        project_id,
        len(uploads),
        sum(r.status == ImageStatus.OK for r in results),
    )
    return results


def fetch_uploads(ws: Workspace, entries: Sequence[tuple[str, Sequence[str]]]) -> list[Upload]:
    """URL entries ``(url, tag_ids)`` → uploads, fetching each with the service's limits."""
    check_batch(ws, len(entries))
    uploads = []
    for url, tag_ids in entries:
        try:
            data = fetch_image_url(
                url,
                timeout=ws.settings.url_timeout_seconds,
                max_bytes=ws.settings.max_training_image_bytes,
                allow_private=ws.settings.allow_private_urls,
            )
            uploads.append(Upload(url, data, tuple(tag_ids)))
        except ImageTooLarge as exc:
            uploads.append(Upload(url, None, tuple(tag_ids), ImageStatus.IMAGE_SIZE, exc.message))
        except ImageUrlInvalid as exc:
            uploads.append(Upload(url, None, tuple(tag_ids), ImageStatus.SOURCE, exc.message))
    return uploads


def add_images_from_predictions(
    ws: Workspace,
    access: Access,
    project_id: str,
    entries: Sequence[tuple[str, Sequence[str]]],
    *,
    tag_ids: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
) -> list[AddedImage]:
    """Turn stored predictions ``(prediction_id, tag_ids)`` into training images.

    A prediction that became a training image leaves the stored predictions.
    """
    access.check(project_id)
    check_batch(ws, len(entries))
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        found = prediction_queries.get_predictions(
            session, project_id=project_id, prediction_ids=[pid for pid, _ in entries]
        )
    uploads = []
    for pid, tags in entries:
        pred = found.get(pid)
        if pred is None or not ws.blobs.exists(pred.sha256):
            uploads.append(
                Upload(pid, None, tuple(tags), ImageStatus.SOURCE, "no such stored prediction")
            )
        else:
            uploads.append(Upload(pid, ws.blobs.read(pred.sha256), tuple(tags)))
    results = add_images(ws, access, project_id, uploads, tag_ids=tag_ids, metadata=metadata)
    done = [pid for (pid, _), r in zip(entries, results, strict=True) if r.ok]
    if done:
        with ws.session() as session:
            prediction_queries.delete_predictions(
                session, project_id=project_id, prediction_ids=done
            )
    return results


def list_images(
    ws: Workspace, access: Access, project_id: str, query: ImageQuery
) -> list[ImageRecord]:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        return queries.list_images(session, project_id=project_id, query=query)


def count_images(ws: Workspace, access: Access, project_id: str, query: ImageQuery) -> int:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        return queries.count_images(session, project_id=project_id, query=query)


def get_images(
    ws: Workspace, access: Access, project_id: str, image_ids: Sequence[str]
) -> list[ImageRecord]:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        return queries.get_images(session, project_id=project_id, image_ids=image_ids, strict=False)


def delete_images(
    ws: Workspace, access: Access, project_id: str, image_ids: Sequence[str] | None
) -> int:
    """Delete the given images (every image of the project when ``None``)."""
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        shas = queries.delete_images(session, project_id=project_id, image_ids=image_ids)
        project_queries.touch_project(session, project_id=project_id)
    collect_blobs(ws, shas)
    return len(shas)


def tag_images(
    ws: Workspace,
    access: Access,
    project_id: str,
    pairs: Sequence[tuple[str, str]],
    *,
    replace: bool = False,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Link (image_id, tag_id) pairs; returns (created, duplicated, exceeded).

    ``replace``: each listed image first loses its other tags (in the same transaction). An
    image of a multiclass project carries one tag: a pair that would give it a second one
    raises :class:`OneTagPerImage`, and nothing changes.
    """
    access.check(project_id)
    check_batch(ws, len(pairs), what="image-tag pairs", limit=ws.settings.max_batch_images * 4)
    with ws.session() as session:
        project = project_queries.get_project(session, project_id=project_id)
        tags = {t.id: t for t in project_queries.list_tags(session, project_id=project_id)}
        image_ids = list(dict.fromkeys(i for i, _ in pairs))
        queries.get_images(session, project_id=project_id, image_ids=image_ids)
        for _, tag_id in pairs:
            if tag_id not in tags:
                raise RequestInvalid(f"Tag {tag_id} is not a tag of this project.")
        current = queries.tag_ids_of(session, image_ids=image_ids)
        if replace:
            keep: dict[str, set[str]] = {}
            for image_id, tag_id in pairs:
                keep.setdefault(image_id, set()).add(tag_id)
            for image_id, kept in keep.items():
                dropped = current.get(image_id, set()) - kept
                if dropped:
                    queries.unlink_tags(
                        session, project_id=project_id, image_ids=[image_id], tag_ids=list(dropped)
                    )
                    current[image_id] -= dropped
        accepted, exceeded = [], []
        for image_id, tag_id in dict.fromkeys(pairs):
            have = current.setdefault(image_id, set())
            _check_negative_mix(have | {tag_id}, tags)
            if not project.is_multilabel:
                _check_one_tag(image_id, have | {tag_id}, tags)
            if tag_id not in have and len(have) >= MAX_TAGS_PER_IMAGE:
                exceeded.append((image_id, tag_id))
                continue
            have.add(tag_id)
            accepted.append((image_id, tag_id))
        created, duplicated = queries.link_tags(session, pairs=accepted)
        project_queries.touch_project(session, project_id=project_id)
    return created, duplicated, exceeded


def untag_images(
    ws: Workspace, access: Access, project_id: str, image_ids: Sequence[str], tag_ids: Sequence[str]
) -> None:
    access.check(project_id)
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        queries.unlink_tags(session, project_id=project_id, image_ids=image_ids, tag_ids=tag_ids)
        project_queries.touch_project(session, project_id=project_id)


def update_metadata(
    ws: Workspace,
    access: Access,
    project_id: str,
    image_ids: Sequence[str],
    metadata: Mapping[str, str],
) -> list[tuple[str, ImageStatus, dict[str, str]]]:
    """Merge key/values into each image's metadata: ``(image_id, status, metadata)`` each."""
    access.check(project_id)
    check_batch(ws, len(image_ids))
    metadata = check_metadata(metadata)
    out: list[tuple[str, ImageStatus, dict[str, str]]] = []
    with ws.session() as session:
        project_queries.get_project(session, project_id=project_id)
        found = {
            i.id: i
            for i in queries.get_images(
                session, project_id=project_id, image_ids=image_ids, strict=False
            )
        }
        for image_id in image_ids:
            if image_id not in found:
                out.append((image_id, ImageStatus.IMAGE_NOT_FOUND, {}))
                continue
            merged = {**found[image_id].metadata, **metadata}
            if len(merged) > MAX_METADATA_ENTRIES:
                out.append((image_id, ImageStatus.LIMIT, dict(found[image_id].metadata)))
                continue
            out.append(
                (
                    image_id,
                    ImageStatus.OK,
                    queries.set_metadata(session, image_id=image_id, metadata=metadata),
                )
            )
    return out


def check_batch(ws: Workspace, n: int, *, what: str = "images", limit: int | None = None) -> None:
    limit = limit or ws.settings.max_batch_images
    if n > limit:
        raise BatchTooLarge(f"{n} {what} in one request; send at most {limit} per request.")


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise RequestInvalid("Image metadata must be an object of string keys and string values.")
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise RequestInvalid(f"At most {MAX_METADATA_ENTRIES} metadata entries per image.")
    for key, value in metadata.items():
        if not key.strip() or len(key) > 128:
            raise RequestInvalid(f"Metadata key {key!r} must be 1 to 128 characters.")
        if len(value) > 256:
            raise RequestInvalid(f"The metadata value of {key!r} is longer than 256 characters.")
    return dict(metadata)


def _add_one(
    ws: Workspace,
    project_id: str,
    upload: Upload,
    tag_ids: Sequence[str],
    tags: Mapping[str, TagRecord],
    metadata: Mapping[str, str],
    *,
    is_multilabel: bool,
) -> AddedImage:
    if upload.error is not None or upload.data is None:
        return AddedImage(upload.source, upload.error or ImageStatus.SOURCE, reason=upload.reason)
    try:  # a loader reads the bytes only now: one image of a batch in memory at a time
        data = upload.data() if callable(upload.data) else upload.data
    except ImageUnreadable as exc:
        return AddedImage(upload.source, ImageStatus.IMAGE_FORMAT, reason=exc.message)
    limit = ws.settings.max_training_image_bytes
    if len(data) > limit:
        return AddedImage(upload.source, ImageStatus.IMAGE_SIZE, reason=f"over {limit} bytes")
    wanted = list(dict.fromkeys(tag_ids))
    unknown = [t for t in wanted if t not in tags]
    if unknown:
        return AddedImage(
            upload.source, ImageStatus.INVALID_TAG, reason=f"unknown tag {unknown[0]}"
        )
    if len(wanted) > MAX_TAGS_PER_IMAGE:
        return AddedImage(upload.source, ImageStatus.TAG_LIMIT)
    try:
        _check_negative_mix(set(wanted), tags)
    except RequestInvalid as exc:
        return AddedImage(upload.source, ImageStatus.NEGATIVE_AND_REGULAR, reason=exc.message)
    if not is_multilabel and len(wanted) > 1:
        return AddedImage(
            upload.source,
            ImageStatus.TAG_LIMIT,
            reason="an image of a multiclass project has one tag",
        )
    try:
        info = open_image(data, max_pixels=ws.settings.max_image_pixels, draft_size=256).info()
    except ImageUnreadable as exc:
        status = (
            ImageStatus.IMAGE_DIMENSIONS
            if isinstance(exc, ImageTooManyPixels)
            else ImageStatus.IMAGE_FORMAT
        )
        return AddedImage(upload.source, status, reason=exc.message)
    side = ws.settings.min_image_side
    if min(info.width, info.height) < side:
        return AddedImage(
            upload.source, ImageStatus.IMAGE_DIMENSIONS, reason=f"smaller than {side} px on a side"
        )
    sha = sha256_bytes(data)
    try:
        return _store_new(ws, project_id, upload.source, data, sha, info, wanted, metadata)
    except IntegrityError:  # the same bytes uploaded concurrently: the other request won
        with ws.session() as session:
            existing = queries.find_image_by_sha(session, project_id=project_id, sha256=sha)
        if existing is None:
            raise
        return AddedImage(upload.source, ImageStatus.DUPLICATE, image=existing)


def _store_new(
    ws: Workspace,
    project_id: str,
    source: str,
    data: bytes,
    sha: str,
    info: ImageInfo,
    wanted: Sequence[str],
    metadata: Mapping[str, str],
) -> AddedImage:
    with ws.blobs.pin(sha), ws.session() as session:  # the row commits before the pin goes
        existing = queries.find_image_by_sha(session, project_id=project_id, sha256=sha)
        if existing is not None:
            return AddedImage(source, ImageStatus.DUPLICATE, image=existing)
        ws.blobs.put(data)
        image_id = queries.add_image(
            session,
            project_id=project_id,
            sha256=sha,
            width=info.width,
            height=info.height,
            format=info.format,
            n_bytes=len(data),
            dhash=info.dhash.hex(),
            source_name=source[:500],
        )
        queries.link_tags(session, pairs=[(image_id, t) for t in wanted])
        if metadata:
            queries.set_metadata(session, image_id=image_id, metadata=metadata)
        project_queries.touch_project(session, project_id=project_id)
        image = queries.get_images(session, project_id=project_id, image_ids=[image_id])[0]
    return AddedImage(source, ImageStatus.OK, image=image)


def _check_one_tag(image_id: str, tag_ids: set[str], tags: Mapping[str, TagRecord]) -> None:
    if len(tag_ids) > 1:
        names = ", ".join(sorted(tags[t].name for t in tag_ids if t in tags))
        raise OneTagPerImage(
            f"An image of a multiclass project has one tag; image {image_id} would have "
            f"{len(tag_ids)} ({names}). Remove its tag first, or replace it."
        )


def _check_negative_mix(tag_ids: set[str], tags: Mapping[str, TagRecord]) -> None:
    types = {tags[t].type for t in tag_ids if t in tags}
    if TagType.NEGATIVE in types and len(tag_ids) > 1:
        raise RequestInvalid("A Negative-tagged image cannot also carry other tags.")


THUMBNAIL_SIZE = 256


def thumbnail(ws: Workspace, sha: str) -> bytes:
    """A small JPEG of a stored image (made once, then read from disk)."""
    limit = ws.settings.max_image_pixels
    return ws.blobs.derived(
        sha,
        f"thumb{THUMBNAIL_SIZE}",
        lambda data: make_thumbnail(data, size=THUMBNAIL_SIZE, max_pixels=limit),
    )


def image_sha(ws: Workspace, access: Access, project_id: str, image_id: str) -> str:
    """The content hash of a training image, or of an image an iteration trained on."""
    access.check(project_id)
    with ws.session() as session:
        found = queries.get_images(
            session, project_id=project_id, image_ids=[image_id], strict=False
        )
        if found:
            return found[0].sha256
        sha = iteration_queries.snapshot_sha(session, project_id=project_id, image_id=image_id)
    if sha is None:
        raise NotFound("image", image_id)
    return sha
