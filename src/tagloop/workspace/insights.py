"""A project's data check: the same check as ``tagloop check``, over its tagged images.

Paths in the findings are image ids (the UI shows their thumbnails). Reports are kept in
memory per project and content (images, their tags and groups, the backbone), so looking again
costs nothing until something changes; the embeddings come from the shared cache, which
training fills too.
"""

from __future__ import annotations

import hashlib

from tagloop.insights.findings import CheckReport
from tagloop.pipeline import check_dataset
from tagloop.store.queries import images as image_queries
from tagloop.store.queries import projects as project_queries
from tagloop.types import ImageItem
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.jobs import GROUP_KEY


def check_project(ws: Workspace, access: Access, project_id: str) -> CheckReport:
    """The data check of the project's tagged images (untagged ones are not training data)."""
    access.check(project_id)
    with ws.session() as session:
        project = project_queries.get_project(session, project_id=project_id)
        images = image_queries.training_images(session, project_id=project_id)
    items = [
        ImageItem(
            path=ws.blobs.path(img.sha256),
            display_path=img.id,
            labels=tuple(sorted(t.tag_name for t in img.tags)),
            metadata=dict(img.metadata),
        )
        for img in images
    ]
    key = _content_key(project.id, project.backbone, project.classification_type, items)

    def compute() -> CheckReport:
        grouped = any(GROUP_KEY in item.metadata for item in items)
        return check_dataset(
            ws.settings,
            items,
            group_by=GROUP_KEY if grouped else None,
            backbone=project.backbone,
            multilabel=project.is_multilabel,
        )

    # A second request for the same data waits for the first one's report.
    return ws.check_reports.get_or_compute(key, compute)


def _content_key(project_id: str, backbone: str, kind: str, items: list[ImageItem]) -> str:
    digest = hashlib.sha256(f"{project_id}\n{backbone}\n{kind}".encode())
    for item in items:
        group = item.metadata.get(GROUP_KEY, "")
        digest.update(
            f"\n{item.display_path}|{item.path.name}|{'|'.join(item.labels)}|{group}".encode()
        )
    return digest.hexdigest()
