"""The web pages, rendered by the real app (real SQLite, worker and tiny backbone): the key
form and session cookie, every page before and after training, and the cookie's limits.
The browser flow (clicks, scripts, screenshots) is tests/browser/test_ui_flow.py.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fixtures import PREDICTION_KEY, TRAINING_KEY
from tests.integration.api_support import (
    API,
    N_PER_TAG,
    TRAIN,
    create_project,
    image_bytes,
    login,
    ok,
    train,
    upload,
)

from tagloop.config import Settings
from tagloop.shells.server import create_app

UI = {"X-Tagloop-UI": "1"}


def html(client: TestClient, url: str, status: int = 200) -> str:
    response = client.get(url, headers={"Accept": "text/html"})  # as a browser asks
    assert response.status_code == status, response.text[-2000:]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def trained_project(client: TestClient) -> tuple[str, dict[str, str], dict[str, Any]]:
    project = create_project(client, "web colours")
    pid = project["id"]
    tags = {}
    for colour in ("red", "blue"):
        tag = ok(
            client.post(f"{API}/projects/{pid}/tags", json={"name": colour}, headers=TRAIN), 201
        )
        tags[colour] = tag["id"]
        files = [(f"{colour}{i}.jpg", image_bytes(colour, i)) for i in range(N_PER_TAG)]
        upload(client, pid, files, tag["id"])
    upload(client, pid, [("loose.jpg", image_bytes("green", 99))])  # one untagged image
    iteration = train(client, pid)
    return pid, tags, iteration


def test_pages_send_a_person_without_a_key_to_the_key_form(client: TestClient) -> None:
    response = client.get("/projects/abc/images?tag=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fprojects%2Fabc%2Fimages%3Ftag%3Dx"
    page = html(client, response.headers["location"])
    assert 'name="next" value="/projects/abc/images?tag=x"' in page
    assert '<label for="key">' in page


def test_a_wrong_key_is_refused_and_a_right_one_opens_the_pages(client: TestClient) -> None:
    refused = client.post("/login", data={"key": "nope"}, follow_redirects=False)
    assert refused.status_code == 401
    assert "does not open anything" in refused.text
    assert "tagloop_session" not in refused.headers.get("set-cookie", "")
    # A prediction key cannot edit, so it does not open the pages either.
    assert client.post("/login", data={"key": PREDICTION_KEY}).status_code == 401

    response = client.post("/login", data={"key": TRAINING_KEY}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "tagloop_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TRAINING_KEY not in cookie  # a session token, never the key
    page = html(client, "/")
    assert "No projects yet" in page and "New project" in page


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_login_only_returns_to_this_server(client: TestClient, target: str) -> None:
    response = client.post(
        "/login", data={"key": TRAINING_KEY, "next": target}, follow_redirects=False
    )
    assert response.headers["location"] == "/"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://elsewhere.example"},
        {"Origin": "null"},  # a sandboxed frame on any site
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.testserver"},
    ],
)
def test_login_and_logout_refuse_posts_from_other_sites(
    client: TestClient, headers: dict[str, str]
) -> None:
    """Login CSRF: another site's form must not log a person in with its key, or out."""
    form = {"key": TRAINING_KEY, "next": "/"}
    response = client.post("/login", data=form, headers=headers, follow_redirects=False)
    assert response.status_code == 400 and "set-cookie" not in response.headers
    login(client)
    out = client.post("/logout", headers=headers, follow_redirects=False)
    assert out.status_code == 400 and "set-cookie" not in out.headers
    assert client.get("/", follow_redirects=False).status_code == 200  # still logged in
    # The server's own form (same origin) works.
    mine = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/logout", headers=mine, follow_redirects=False).status_code == 303


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    login(client)
    token = client.cookies["tagloop_session"]
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 303
    client.cookies.clear()  # what the browser does with the expired cookie
    assert client.get("/", follow_redirects=False).status_code == 303
    # A copy of the cookie kept from before opens nothing any more.
    client.cookies.set("tagloop_session", token)
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get(f"{API}/projects").status_code == 401


def test_a_session_ends_with_its_project_or_when_its_key_changes(
    client: TestClient, api_settings: Settings
) -> None:
    """A session opened with a project's own key ends when the project goes; one opened with
    the server key ends when the server runs with another key."""
    pid = create_project(client, "own")["id"]
    keys = ok(client.get(f"{API}/projects/{pid}/keys", headers=TRAIN))
    login(client, keys["training_key"])
    assert client.get(f"{API}/projects/{pid}").status_code == 200
    ok(client.delete(f"{API}/projects/{pid}", headers=TRAIN), 204)
    assert client.get(f"{API}/projects").status_code == 401

    login(client)
    assert client.get(f"{API}/projects").status_code == 200
    token = client.cookies["tagloop_session"]
    changed = api_settings.model_copy(update={"training_key": "another-training-key"})
    with TestClient(create_app(changed)) as other:
        other.cookies.set("tagloop_session", token)
        assert other.get(f"{API}/projects").status_code == 401


def test_the_cookie_opens_reads_but_changes_need_the_ui_header(client: TestClient) -> None:
    pid = create_project(client)["id"]
    login(client)
    assert client.get(f"{API}/projects/{pid}").status_code == 200
    body = {"name": "sneaky"}
    # A cross-site form post carries the cookie but cannot add the header: refused.
    assert client.post(f"{API}/projects/{pid}/tags", json=body).status_code == 401
    assert client.post(f"{API}/projects/{pid}/tags", json=body, headers=UI).status_code == 201
    # The Custom Vision routes never take the cookie.
    cv = f"/customvision/v3.3/training/projects/{pid}"
    assert client.get(cv).status_code == 401


def test_a_project_key_shows_only_its_project(client: TestClient) -> None:
    mine = create_project(client, "mine")
    create_project(client, "other")
    keys = ok(client.get(f"{API}/projects/{mine['id']}/keys", headers=TRAIN))
    login(client, keys["training_key"])
    page = html(client, "/")
    assert "mine" in page and "other" not in page
    assert "New project" not in page  # creating projects needs the server's key


def test_every_page_of_an_empty_project_explains_what_to_do(client: TestClient) -> None:
    pid = create_project(client)["id"]
    login(client)
    assert "No images yet" in html(client, f"/projects/{pid}/images")
    train_page = html(client, f"/projects/{pid}/train")
    assert "No iterations yet" in train_page
    assert "at least 2 tags with images" in train_page  # the readiness check
    assert "No trained iteration yet" in html(client, f"/projects/{pid}/performance")
    assert "train</a> first" in html(client, f"/projects/{pid}/predictions")
    assert "No trained iteration yet" in html(client, f"/projects/{pid}/quicktest")


def test_pages_of_a_trained_project(client: TestClient) -> None:
    pid, tags, iteration = trained_project(client)
    login(client)

    projects = html(client, "/")
    assert "web colours" in projects and f"/projects/{pid}/images" in projects

    images = html(client, f"/projects/{pid}/images")
    assert images.count('class="tile"') == 2 * N_PER_TAG + 1
    assert f"/api/v1/projects/{pid}/images/" in images and "/thumbnail" in images
    red = html(client, f"/projects/{pid}/images?tag={tags['red']}")
    assert red.count('class="tile"') == N_PER_TAG
    assert html(client, f"/projects/{pid}/images?tag=untagged").count('class="tile"') == 1
    thumb = re.search(r'src="(/api/v1/projects/[^"]+/thumbnail)"', images)
    assert thumb is not None
    got = client.get(thumb.group(1))  # by cookie, as the browser's <img> asks
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"

    trained = html(client, f"/projects/{pid}/train")
    assert iteration["name"] in trained and "Completed" in trained
    assert f'data-insights="/api/v1/projects/{pid}/insights"' in trained
    assert f"/iterations/{iteration['id']}/export" in trained

    perf = html(client, f"/projects/{pid}/performance?threshold=0.7")
    assert 'value="0.7"' in perf and "Confusion matrix" in perf
    assert f'data-perf="/api/v1/projects/{pid}/iterations/{iteration["id"]}/performance"' in perf
    assert 'data-metric="macro_f1"' in perf
    cell = html(client, f"/projects/{pid}/performance?true={tags['red']}&predicted={tags['red']}")
    assert "true: red" in cell and "predicted: red" in cell

    review = html(client, f"/projects/{pid}/predictions")
    assert 'data-kind="image"' in review  # the untagged image waits for a label
    assert "Negative" in review

    assert 'id="quicktest"' in html(client, f"/projects/{pid}/quicktest")


def test_published_iterations_show_how_to_call_them(client: TestClient) -> None:
    pid, _, iteration = trained_project(client)
    url = f"{API}/projects/{pid}/iterations/{iteration['id']}/publish"
    ok(client.post(url, json={"name": "prod"}, headers=TRAIN))
    keys = ok(client.get(f"{API}/projects/{pid}/keys", headers=TRAIN))
    login(client)
    page = html(client, f"/projects/{pid}/train")
    assert f"/customvision/v3.0/prediction/{pid}/classify/iterations/prod/image" in page
    assert keys["prediction_key"] in page
    assert "CustomVisionPredictionClient" in page


def test_performance_compares_two_iterations(client: TestClient) -> None:
    pid, tags, first = trained_project(client)
    upload(client, pid, [("red-more.jpg", image_bytes("red", 50))], tags["red"])
    second = train(client, pid)
    login(client)
    page = html(
        client, f"/projects/{pid}/performance?iteration={second['id']}&compare={first['id']}"
    )
    assert page.count("data-perf=") == 2
    assert first["name"] in page and second["name"] in page


def test_unknown_things_get_an_html_error_page(client: TestClient) -> None:
    login(client)
    page = html(client, "/projects/nope/images", status=404)
    assert "Not found" in page and "Back to the projects" in page
    pid = create_project(client)["id"]
    assert "Not found" in html(client, f"/projects/{pid}/images?tag=nope", status=404)
    bad = client.get(f"/projects/{pid}/images?page=0", headers={"Accept": "text/html"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
    # The API keeps its JSON errors, even for a browser; programs get JSON everywhere.
    api = client.get(f"{API}/projects/nope", headers={"Accept": "text/html"})
    assert api.json()["code"] == "project_not_found"
    assert client.get("/nothing-here").json()["code"] == "route_not_found"


def test_assets_are_local(client: TestClient) -> None:
    login(client)
    response = client.get("/")
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    page = response.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', page):
        assert client.get(asset).status_code == 200, asset
    assert "http://" not in page.replace("http://testserver", "")
    assert "https://" not in page


def test_training_scores_the_review_queue_before_anyone_asks(client: TestClient) -> None:
    _, _, iteration = trained_project(client)
    # The worker scores right after completing; nothing else asked for a score.
    assert len(wait_scored(client, iteration["id"])) == 1  # the one untagged image


def wait_scored(client: TestClient, iteration_id: str, timeout: float = 30.0) -> list[Any]:
    """The review scores the app's workspace holds for the iteration, once there are any."""
    scores = client.app.state.workspace.scores  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scored = [key for key in scores.keys() if key[0] == iteration_id]
        if scored:
            return scored
        time.sleep(0.05)
    return []


def test_a_restarted_server_scores_the_review_queue_again(api_settings: Any) -> None:
    """The scores live with the server's workspace: a new server starts empty and scores the
    review queue again at start."""
    from tagloop.shells.server import create_app

    with TestClient(create_app(api_settings)) as first:
        _, _, iteration = trained_project(first)
        assert wait_scored(first, iteration["id"])
    with TestClient(create_app(api_settings)) as second:
        assert len(wait_scored(second, iteration["id"])) == 1
