"""Regression tests for breaks an audit of the service found (issue 13): odd input answers
400 with a stable code instead of 500. The real app, real SQLite, the tiny backbone.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import COLOURS, TINY, TRAINING_KEY, colour_image, jpeg_bytes
from tests.integration.api_support import (
    API,
    PREDICT,
    create_project,
    image_bytes,
    ok,
    train,
    upload,
)

from tagloop.config import Settings
from tagloop.shells.api.cv_filters import MAX_FILTER_CONDITIONS
from tagloop.shells.server import create_app

CV = "/customvision/v3.3/training"
TRAIN = {"Training-Key": TRAINING_KEY}


@pytest.fixture
def project_id(api: TestClient) -> str:
    body = {"name": "hardening", "classification_type": "Multiclass", "backbone": TINY}
    response = api.post("/api/v1/projects", json=body, headers=TRAIN)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_a_json_body_is_a_400(api: TestClient, project_id: str, constant: str) -> None:
    response = api.post(
        f"{CV}/projects/{project_id}/predictions/query",
        content=f'{{"images": {constant}}}'.encode(),
        headers={**TRAIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "BadRequest"
    assert constant.lstrip("-") in response.json()["message"]
    native = api.post(
        f"/api/v1/projects/{project_id}/tags",
        content=f'{{"name": {constant}}}'.encode(),
        headers={**TRAIN, "Content-Type": "application/json"},
    )
    assert native.status_code == 400 and native.json()["code"] == "request_invalid"


def test_a_filter_of_many_or_groups_is_read_up_to_the_limit_then_refused(
    api: TestClient, project_id: str
) -> None:
    def images(n: int) -> object:
        text = " or ".join(f"camera eq 'c{i}'" for i in range(n))
        return api.get(
            f"{CV}/projects/{project_id}/images", params={"$filter": text}, headers=TRAIN
        )

    fine = images(MAX_FILTER_CONDITIONS)
    assert fine.status_code == 200, fine.text
    assert fine.json() == []
    for n in (MAX_FILTER_CONDITIONS + 1, 2000):
        refused = images(n)
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "BadRequest"
        assert f"at most {MAX_FILTER_CONDITIONS}" in refused.json()["message"]


def test_stored_predictions_are_kept_up_to_the_projects_limit(api_settings: Settings) -> None:
    """Retention: the oldest beyond the count go, with their images; the newest stay."""
    settings = api_settings.model_copy(update={"stored_predictions_per_project": 3})
    with TestClient(create_app(settings)) as client:
        project = create_project(client, "retention")
        pid = project["id"]
        for k, colour in enumerate(COLOURS):
            tag = ok(
                client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN),
                201,
            )
            files = [(f"{colour}{i}.jpg", image_bytes(colour, seed=10 * k + i)) for i in range(6)]
            upload(client, pid, files, tag_id=tag["id"])
        iteration = train(client, pid)
        it = f"{API}/projects/{pid}/iterations/{iteration['id']}"
        ok(client.post(f"{it}/publish", json={"name": "live"}, headers=TRAIN))
        ids = []
        for seed in range(5):
            probe = {"imageData": ("p.jpg", image_bytes("red", seed=500 + seed), "image/jpeg")}
            answer = ok(
                client.post(f"{API}/projects/{pid}/predict/live", files=probe, headers=PREDICT)
            )
            ids.append(answer["id"])
        stored = ok(client.get(f"{API}/projects/{pid}/predictions", headers=TRAIN))
        kept = {p["id"] for p in stored["predictions"]}
        assert kept == set(ids[-3:])
        ws = client.app.state.workspace  # type: ignore[attr-defined]
        with ws.session() as session:
            from tagloop.store.queries.predictions import get_predictions

            assert set(get_predictions(session, project_id=pid, prediction_ids=ids)) == kept
        blobs = list((settings.data_dir / "blobs").rglob("*"))
        n_files = sum(1 for b in blobs if b.is_file())
        assert n_files == 18 + 3 + 1  # training images, the kept predictions' images, the model


def test_an_unexpected_error_is_answered_and_logged_once_without_values(
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 in the asker's shape, one log record, no statement values, short lines; the
    exception does not reach the server (which would log it a second time)."""
    from sqlalchemy import text

    from tagloop.workspace import projects
    from tagloop.workspace.context import Workspace

    where = " OR ".join(f"id = :v{i}" for i in range(2000))
    values = {f"v{i}": f"secret-value-{i}" for i in range(2000)}

    def broken(ws: Workspace, *args: object, **kwargs: object) -> object:
        with ws.session() as session:  # a statement the real engine fails on
            return session.execute(text(f"SELECT * FROM no_such_table WHERE {where}"), values)

    monkeypatch.setattr(projects, "list_projects", broken)  # the Custom Vision list
    monkeypatch.setattr(projects, "list_project_summaries", broken)  # the native list
    caplog.set_level("ERROR")
    with TestClient(create_app(api_settings)) as client:  # raises what reaches the server
        native = client.get("/api/v1/projects", headers=TRAIN)
        cv = client.get(f"{CV}/projects", headers=TRAIN)
    assert native.status_code == 500 and native.json()["code"] == "internal_error"
    assert cv.status_code == 500 and cv.json()["code"] == "ErrorUnknown"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2  # one per failed request
    for record in errors:
        logged = record.getMessage()
        assert "secret-value" not in logged
        assert max(len(line) for line in logged.splitlines()) <= 500


def test_a_key_over_its_rate_gets_429_with_retry_after(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"requests_per_minute_per_key": 5})
    with TestClient(create_app(settings)) as client:
        answers = [client.get("/api/v1/projects", headers=TRAIN) for _ in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
        limited = answers[-1]
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 12  # one token: 12 s at 5 a minute
        cv = client.get(f"{CV}/projects", headers=TRAIN)
        assert cv.status_code == 429 and cv.json()["code"] == "BadRequestExceededQuota"
        assert "retry-after" in cv.headers
        # Another key has its own budget; requests without a key are not counted.
        other = {"Prediction-Key": "test-prediction-key"}
        assert client.get("/api/v1/projects", headers=other).status_code == 401
        assert client.get("/health").status_code == 200


def test_a_key_with_too_many_requests_in_flight_gets_429(
    api_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one request in flight allowed per key, a second request of that key while the
    first is held gets 429 at once; another key, and the first key after, are served."""
    import threading

    from tagloop.workspace import projects
    from tagloop.workspace.context import Access, Workspace

    held, release = threading.Event(), threading.Event()
    real = projects.list_project_summaries

    def slow(ws: Workspace, access: Access) -> object:
        held.set()
        release.wait(10)
        return real(ws, access)

    monkeypatch.setattr(projects, "list_project_summaries", slow)
    settings = api_settings.model_copy(update={"max_concurrent_requests_per_key": 1})
    with TestClient(create_app(settings)) as client:
        pid = create_project(client, "own key")["id"]
        own = {
            "Training-Key": ok(client.get(f"{API}/projects/{pid}/keys", headers=TRAIN))[
                "training_key"
            ]
        }
        first: list[int] = []
        worker = threading.Thread(
            target=lambda: first.append(client.get(f"{API}/projects", headers=TRAIN).status_code)
        )
        worker.start()
        assert held.wait(10)
        crowded = client.get(f"{CV}/projects", headers=TRAIN)
        assert crowded.status_code == 429 and crowded.headers["retry-after"] == "1"
        assert crowded.json()["code"] == "BadRequestExceededQuota"
        assert "in flight" in crowded.json()["message"]
        assert client.get(f"{API}/projects/{pid}", headers=own).status_code == 200
        release.set()
        worker.join(10)
        assert first == [200]
        assert client.get(f"{CV}/projects", headers=TRAIN).status_code == 200


def test_url_fetches_wait_for_their_own_slots(api_settings: Settings) -> None:
    """With one URL-fetch slot, two URL uploads to a slow host run one after the other, and
    other requests are answered at once meanwhile (they do not wait behind the fetches)."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    png = jpeg_bytes(colour_image(COLOURS["red"], seed=1))

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(2.0)
            self.send_response(200)
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

    host = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    settings = api_settings.model_copy(
        update={"max_concurrent_url_fetches": 1, "allow_private_urls": True}
    )
    try:
        with TestClient(create_app(settings)) as client:
            body = {"name": "urls", "classification_type": "Multiclass", "backbone": TINY}
            pid = client.post("/api/v1/projects", json=body, headers=TRAIN).json()["id"]
            url = f"{CV}/projects/{pid}/images/urls"
            answers: list[int] = []

            def fetch(k: int) -> None:
                image = {"url": f"http://127.0.0.1:{host.server_address[1]}/{k}.jpg"}
                answers.append(
                    client.post(url, json={"images": [image]}, headers=TRAIN).status_code
                )

            started = time.monotonic()
            workers = [threading.Thread(target=fetch, args=(k,)) for k in range(2)]
            for w in workers:
                w.start()
            time.sleep(0.3)
            health_started = time.monotonic()
            assert client.get("/health").status_code == 200
            # Behind the fetches it would wait 1.7 s or more; on its own, a few milliseconds.
            assert time.monotonic() - health_started < 1.0
            for w in workers:
                w.join()
            assert answers == [200, 200]
            assert time.monotonic() - started >= 3.9  # one slot: the second fetch waited
    finally:
        host.shutdown()


def test_collecting_blobs_cannot_remove_a_file_an_upload_just_wrote(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Project A deletes its image while project B uploads the same bytes: the deletion's
    collection runs after B wrote the file and before B's row is committed. B's image keeps
    its file."""
    from tagloop.store.queries import images as image_queries
    from tagloop.workspace import images
    from tagloop.workspace.context import Access

    data = image_bytes("red", seed=1)
    first = create_project(client, "first")["id"]
    second = create_project(client, "second")["id"]
    [added] = upload(client, first, [("a.jpg", data)])["images"]
    ws = client.app.state.workspace  # type: ignore[attr-defined]
    real_add = image_queries.add_image

    def add_while_another_project_deletes(*args: object, **kwargs: object) -> str:
        images.delete_images(ws, Access(role="training"), first, [added["image"]["id"]])
        return real_add(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(image_queries, "add_image", add_while_another_project_deletes)
    [kept] = upload(client, second, [("b.jpg", data)])["images"]
    monkeypatch.undo()
    assert kept["status"] == "OK"
    assert ok(client.get(f"{API}/projects/{first}", headers=TRAIN))["n_images"] == 0
    image = f"{API}/projects/{second}/images/{kept['image']['id']}/file"
    response = client.get(image, headers=TRAIN)
    assert response.status_code == 200 and response.content == data


def test_orphan_blobs_from_a_killed_upload_are_removed_at_start(api_settings: Settings) -> None:
    """A file written without its row (a kill between the two) and a half-written staging file
    go at the next start, once old; images' files stay."""
    import os
    import time

    from tagloop.store.blobs import STAGING_PREFIX

    with TestClient(create_app(api_settings)) as client:
        pid = create_project(client, "kept")["id"]
        [added] = upload(client, pid, [("a.jpg", image_bytes("red", seed=2))])["images"]
        ws = client.app.state.workspace  # type: ignore[attr-defined]
        orphan = ws.blobs.put(b"written, then the process was killed")
        staging = ws.blobs.path(orphan).parent / f"{STAGING_PREFIX}x1"
        staging.write_bytes(b"half")
        old = time.time() - 3600
        for path in (api_settings.data_dir / "blobs").rglob("*"):
            if path.is_file():  # the image's file is as old as the orphan: it must stay
                os.utime(path, (old, old))
    with TestClient(create_app(api_settings)) as client:
        ws = client.app.state.workspace  # type: ignore[attr-defined]
        assert not ws.blobs.exists(orphan) and not staging.exists()
        image = f"{API}/projects/{pid}/images/{added['image']['id']}/file"
        assert client.get(image, headers=TRAIN).status_code == 200


def test_stored_predictions_are_paged_in_the_database(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of stored predictions reads only the rows it needs (its size plus one), with or
    without a filter by tag probability; pages follow each other without gaps or repeats."""
    from tagloop.store.queries import predictions as prediction_queries
    from tagloop.workspace import predictions as workspace_predictions

    pid = create_project(client, "paged")["id"]
    tags = {}
    for k, colour in enumerate(COLOURS):
        tags[colour] = ok(
            client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN), 201
        )["id"]
        files = [(f"{colour}{i}.jpg", image_bytes(colour, seed=10 * k + i)) for i in range(6)]
        upload(client, pid, files, tag_id=tags[colour])
    iteration = train(client, pid)
    it = f"{API}/projects/{pid}/iterations/{iteration['id']}"
    ok(client.post(f"{it}/publish", json={"name": "live"}, headers=TRAIN))
    sent = []
    for seed in range(9):
        colour = "red" if seed % 3 else "blue"
        probe = {"imageData": ("p.jpg", image_bytes(colour, seed=700 + seed), "image/jpeg")}
        sent.append(
            ok(client.post(f"{API}/projects/{pid}/predict/live", files=probe, headers=PREDICT))[
                "id"
            ]
        )

    reads: list[int | None] = []
    real = prediction_queries.list_predictions

    def spy(*args: object, **kwargs: object) -> object:
        reads.append(kwargs.get("take"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(prediction_queries, "list_predictions", spy)
    monkeypatch.setattr(workspace_predictions, "PAGE_ROWS", 4)
    seen = []
    for skip in (0, 4, 8):
        page = ok(
            client.get(
                f"{API}/projects/{pid}/predictions", params={"skip": skip, "take": 4}, headers=TRAIN
            )
        )
        seen += [p["id"] for p in page["predictions"]]
        assert page["has_more"] == (skip == 0 or skip == 4)
    assert seen == list(reversed(sent))
    assert reads == [5, 5, 5]

    # Custom Vision's query with a probability window for "blue": read 4 rows at a time.
    reads.clear()
    body = {"tags": [{"id": tags["blue"], "minThreshold": 0.5, "maxThreshold": 1.0}], "maxCount": 2}
    found = client.post(
        f"/customvision/v3.3/training/projects/{pid}/predictions/query", json=body, headers=TRAIN
    )
    assert found.status_code == 200, found.text
    assert len(found.json()["results"]) == 2
    assert found.json()["token"]["continuation"] == "2"  # blue: 3 of the 9 predictions
    assert reads and set(reads) == {4}
