"""Fixtures of the integration tests that send bad requests (``test_errors_*.py``): a project,
two tags, and a project trained twice (once per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import (
    COLOURS,
    PREDICTION_KEY,
    TRAINING_KEY,
)
from tests.integration.api_errors_support import (
    N_PER_TAG,
    PUBLISH_NAME,
    Trained,
    create_project,
    create_tag,
    publish,
    start_training,
    upload_tagged,
    wait_completed,
)

from tagloop.config import Settings
from tagloop.shells.server import create_app

# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def project_id(api: TestClient) -> str:
    return create_project(api)


@pytest.fixture
def tagged(api: TestClient, project_id: str) -> dict[str, str]:
    """Two tags of ``project_id``: red and green (no images)."""
    return {label: create_tag(api, project_id, label) for label in ("red", "green")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Iterator[Trained]:
    settings = Settings(
        cache_dir=shared_cache,
        data_dir=tmp_path_factory.mktemp("api-errors") / "service",
        training_key=TRAINING_KEY,
        prediction_key=PREDICTION_KEY,
        n_threads=2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        pid = create_project(api, "trained")
        tag_ids = {label: create_tag(api, pid, label) for label in COLOURS}
        upload_tagged(api, pid, tag_ids, N_PER_TAG)
        first = start_training(api, pid)
        wait_completed(api, pid, first["id"])
        publish(api, pid, first["id"], PUBLISH_NAME)
        second = start_training(api, pid, force=True)
        wait_completed(api, pid, second["id"])
        yield Trained(api, settings, pid, tag_ids, first["id"], second["id"])
