"""The suite's fixtures: a fresh settings object and data dir per test, one backbone cache per
session, the real app behind a TestClient, the sample photos (a test that needs them fails,
never skips, when they are missing). Helpers and constants live in ``tests/fixtures.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fixtures import PREDICTION_KEY, SAMPLE_DATA, TRAINING_KEY, write_dataset

from tagloop.config import Settings


@pytest.fixture
def sample_photos() -> Path:
    """The real sample photos' folder. A test that needs them fails, never skips, when they are
    missing: CI always has ../shared/datasets beside the repository."""
    images = SAMPLE_DATA / "images"
    if not images.is_dir():
        pytest.fail(
            f"the sample photos are missing at {images}; the tests need "
            "../shared/datasets/clothing-extra beside the repository",
            pytrace=False,
        )
    return images


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the session: backbones are exported once; embeddings are keyed by content."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def settings(shared_cache: Path) -> Settings:
    return Settings(cache_dir=shared_cache, n_threads=2)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture
def api_settings(shared_cache: Path, tmp_path: Path) -> Settings:
    """Service settings on a fresh data dir (SQLite + blobs under tmp_path)."""
    return Settings(
        cache_dir=shared_cache,
        data_dir=tmp_path / "service",
        training_key=TRAINING_KEY,
        prediction_key=PREDICTION_KEY,
        n_threads=2,
    )


@pytest.fixture
def client(api_settings: Settings):  # type: ignore[no-untyped-def]
    """A TestClient on the real app (real SQLite, real worker thread, the tiny backbone)."""
    from fastapi.testclient import TestClient

    from tagloop.shells.server import create_app

    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def api(api_settings: Settings):  # type: ignore[no-untyped-def]
    """Like ``client``, but server errors come back as HTTP 500, as on the wire."""
    from fastapi.testclient import TestClient

    from tagloop.shells.server import create_app

    with TestClient(create_app(api_settings), raise_server_exceptions=False) as test_client:
        yield test_client
