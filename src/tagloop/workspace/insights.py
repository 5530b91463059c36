"""A project's data check: the same check as ``tagloop check``, over its tagged images.

Paths in the findings are image ids (the UI shows their thumbnails). Reports are kept in
memory per project and content (images, their tags and groups, the backbone), so looking again
costs nothing until something changes; the embeddings come from the shared cache, which
training fills too.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from tagloop.insights.findings import CheckReport
from tagloop.pipeline import check_dataset
from tagloop.store.queries import images as image_queries
from tagloop.store.queries import projects as project_queries
from tagloop.types import ImageItem
from tagloop.workspace.context import Access, Workspace
from tagloop.workspace.jobs import GROUP_KEY

_REPORTS: OrderedDict[str, CheckReport] = OrderedDict()  # content key -> report
_N_REPORTS = 32
_LOCK = threading.Lock()
_COMPUTING: dict[str, threading.Lock] = {}  # content key -> held while its report is computed


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
    with _LOCK:
        computing = _COMPUTING.setdefault(key, threading.Lock())
    with computing:  # a second request for the same data waits for the first one's report
        with _LOCK:
            if key in _REPORTS:
                _REPORTS.move_to_end(key)
                return _REPORTS[key]
        grouped = any(GROUP_KEY in item.metadata for item in items)
        report = check_dataset(
            ws.settings,
            items,
            group_by=GROUP_KEY if grouped else None,
            backbone=project.backbone,
            multilabel=project.is_multilabel,
        )
        with _LOCK:
            _REPORTS[key] = report
            while len(_REPORTS) > _N_REPORTS:
                _REPORTS.popitem(last=False)
            _COMPUTING.pop(key, None)
    return report


def _content_key(project_id: str, backbone: str, kind: str, items: list[ImageItem]) -> str:
    digest = hashlib.sha256(f"{project_id}\n{backbone}\n{kind}".encode())
    for item in items:
        group = item.metadata.get(GROUP_KEY, "")
        digest.update(
            f"\n{item.display_path}|{item.path.name}|{'|'.join(item.labels)}|{group}".encode()
        )
    return digest.hexdigest()
