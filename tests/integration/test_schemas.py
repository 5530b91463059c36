"""Schema-driven testing with schemathesis over both OpenAPI documents (native and Custom
Vision) against a real `tagloop serve`: generated requests, with a training key, half of them
aimed at a real project, never get a 5xx (slow, part of `make test`; a bounded number of
examples per operation)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.fixtures import COLOURS, colour_image, jpeg_bytes
from tests.integration.sdk_support import Server, running_server

pytestmark = pytest.mark.slow
EXAMPLES = 6


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("schemas") / "data", shared_cache) as server:
        yield server


@pytest.fixture(scope="module")
def project_id(live: Server) -> str:
    """A project with a tag and an image, so that generated requests also reach past the
    'unknown project' check."""
    key = {"Training-Key": live.training_key}
    api = f"{live.endpoint}/api/v1"
    pid: str = httpx.post(f"{api}/projects", json={"name": "fuzzed"}, headers=key).json()["id"]
    tag = httpx.post(f"{api}/projects/{pid}/tags", json={"name": "red"}, headers=key).json()
    image = jpeg_bytes(colour_image(COLOURS["red"], seed=1))
    httpx.post(
        f"{api}/projects/{pid}/images",
        params={"tag_ids": tag["id"]},
        files=[("f", ("r.jpg", image, "image/jpeg"))],
        headers=key,
    )
    return pid


@pytest.fixture(scope="module")
def native_schema(live: Server) -> Any:
    return schemathesis.openapi.from_url(f"{live.endpoint}/openapi.json")


@pytest.fixture(scope="module")
def custom_vision_schema(live: Server) -> Any:
    return schemathesis.openapi.from_url(f"{live.endpoint}/customvision/openapi.json")


BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


def _call(case: Any, live: Server, project_id: str) -> None:
    params = case.path_parameters or {}
    key = f"{case.method} {case.formatted_path}".encode()
    if "project_id" in params and zlib.crc32(key) % 2 == 0:
        params["project_id"] = project_id
    response = case.call(
        base_url=live.endpoint, headers={"Training-Key": live.training_key}, timeout=60
    )
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])


def _fuzz(schema: Any, live: Server, project_id: str) -> int:
    """Every operation of ``schema``, EXAMPLES generated requests each; returns how many
    operations ran. Fails with the operations that answered a 5xx."""
    failures, ran = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @BOUNDED
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            _call(case, live, project_id)

        try:
            check()
        except AssertionError as exc:
            failures.append(f"{operation.label}: {exc}")
        ran += 1
    assert not failures, "\n".join(failures)
    return ran


def test_the_native_api_never_answers_5xx(
    native_schema: Any, live: Server, project_id: str
) -> None:
    assert _fuzz(native_schema, live, project_id) > 35


def test_the_custom_vision_api_never_answers_5xx(
    custom_vision_schema: Any, live: Server, project_id: str
) -> None:
    assert _fuzz(custom_vision_schema, live, project_id) > 40
