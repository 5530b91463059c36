"""The whole improvement loop in the browser, on real photos, as a person does it.

Create a project; upload 22 real photos for each of 2 tags (and one broken file); train; read
the performance and move the threshold; quick-test a photo; publish; send a photo to the
prediction endpoint and promote it from Predictions with the right tag; retrain; compare the
two iterations. Every step writes a screenshot (``build/screenshots/...``); the page-problem
recorder fails the test on any console error or failed request.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from tests.browser.support import PageProblems, Shots
from tests.fixtures import unrelated_photos, write_stamped_split
from tests.integration.sdk_support import REAL_IMAGES, Server, requires_real_photos

TAGS = ("blazer", "polo")
N_TRAIN = 22
TRAINING_TIMEOUT_MS = 180_000
pytestmark = requires_real_photos


def photos(tag: str) -> list[Path]:
    return sorted((REAL_IMAGES / tag).glob("*.jpg"))


def one_tag_project(server: Server, name: str, tag: str) -> str:
    """A project with 6 real photos under one tag (too few tags to train), made through the API."""
    key = {"Training-Key": server.training_key}
    api = f"{server.endpoint}/api/v1"
    pid: str = httpx.post(f"{api}/projects", json={"name": name}, headers=key).json()["id"]
    made = httpx.post(f"{api}/projects/{pid}/tags", json={"name": tag}, headers=key).json()
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos(tag)[:6]]
    httpx.post(
        f"{api}/projects/{pid}/images", params={"tag_ids": made["id"]}, files=files, headers=key
    )
    return pid


def login(page: Page, key: str, path: str = "/") -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Training key").fill(key)
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def tab(page: Page, name: str) -> None:
    """Go to a section of the project through its tab."""
    page.locator("nav.tabs").get_by_role("link", name=name, exact=True).click()
    wait_ready(page)


def wait_ready(page: Page) -> None:
    """The page's script has wired its controls."""
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def train_and_wait(page: Page, shots: Shots, name: str) -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    progress = page.locator(".progress-box")
    expect(progress).to_be_visible()
    shots(f"{name}-training")
    expect(progress).to_have_count(0, timeout=TRAINING_TIMEOUT_MS)  # the page reloads when done
    expect(page.locator("tbody tr").first.locator(".status-completed")).to_be_visible()
    shots(f"{name}-trained")


def test_the_improvement_loop(page: Page, server: Server, shots: Shots, tmp_path: Path) -> None:
    login(page, server.training_key)
    expect(page.get_by_text("No projects yet")).to_be_visible()
    shots("projects-empty")

    # Create a project (multiclass, default backbone).
    page.get_by_label("Name", exact=True).fill("Garments")
    wait_ready(page)
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/[0-9a-f-]+/images$"))
    project_id = page.url.split("/")[-2]
    shots("project-created")

    # Two tags, then 22 real photos each (plus a broken file with the first batch).
    for tag in TAGS:
        wait_ready(page)
        page.get_by_label("New tag").fill(tag)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.locator(".filters")).to_contain_text(tag)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a photo")
    for i, tag in enumerate(TAGS):
        wait_ready(page)
        upload = page.locator("#upload")
        upload.get_by_label(tag, exact=True).check()
        files = photos(tag)[:N_TRAIN] + ([broken] if i == 0 else [])
        page.locator("#file-input").set_input_files(files)
        summary = page.locator("#upload-summary")
        expect(summary).to_contain_text(f"{N_TRAIN} added", timeout=60_000)
        if i == 0:
            expect(summary).to_contain_text("1 skipped")
            expect(summary.locator(".skipped")).to_contain_text("broken.jpg")
            shots("upload-summary")
    expect(page.locator(".filters")).to_contain_text(str(2 * N_TRAIN))
    expect(page.locator("#image-grid .tile")).to_have_count(2 * N_TRAIN)
    shots("training-images")

    # Filter by a tag.
    page.locator(".filters").get_by_role("link", name=re.compile("^blazer")).click()
    expect(page.locator("#image-grid .tile")).to_have_count(N_TRAIN)

    # Train, after reading the data check.
    tab(page, "Train")
    insights = page.locator("#insights")
    expect(insights).to_have_attribute("data-loaded", "true", timeout=120_000)
    expect(insights.locator('.finding[data-code="too_few_images"]')).to_contain_text(
        "fewer than 50"
    )
    expect(insights.locator(".finding.error")).to_have_count(0)  # else Train asks first
    shots("train-before")
    train_and_wait(page, shots, "first")

    # Performance, and the threshold slider.
    tab(page, "Performance")
    panel = page.locator("[data-perf]")
    expect(panel).to_have_count(1)
    expect(page.locator("table.matrix")).to_be_visible()
    shots("performance")
    precision = panel.locator(".metrics [data-metric=precision]")
    page.get_by_label("Probability threshold").fill("0.95")
    expect(page.locator("body")).to_have_attribute("data-threshold", "0.95")
    perf_url = panel.get_attribute("data-perf")
    key = {"Training-Key": server.training_key}
    want = httpx.get(f"{server.endpoint}{perf_url}?threshold=0.95", headers=key).json()
    expect(precision).to_have_text(f"{100 * want['overall']['precision']:.1f}%")
    expect(page.locator("#threshold-value")).to_have_text("95%")
    shots("performance-threshold")
    # A confusion-matrix cell shows its images; wrong ones are outlined.
    page.locator("table.matrix td a").first.click()
    expect(page.locator("#results-title")).to_contain_text("true:")
    shots("performance-cell")
    # Where the model looks: the toggle swaps each photo for its heat-map overlay.
    page.get_by_label("Show where the model looks").check()
    first = page.locator("#results .tile img").first
    expect(first).to_have_attribute("src", re.compile(r"/heatmap\?iteration_id="))
    loaded = "img => img.complete && img.naturalWidth === 256"
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#results .tile img')].every({loaded})"
    )
    shots("performance-heatmaps")

    # Quick test a held-out photo, without storing it.
    tab(page, "Quick test")
    held_out = photos("blazer")[N_TRAIN + 1]
    page.locator("#qt-file").set_input_files(held_out)
    result = page.locator("#qt-result")
    expect(result).to_be_visible(timeout=30_000)
    expect(result.locator("#qt-bars li")).to_have_count(2)
    expect(page.locator("#qt-note")).to_have_text("Not stored.")
    shots("quick-test")
    expect(page.locator("#qt-unknown")).to_be_hidden()
    page.get_by_label("Show where the model looks").check()
    expect(page.locator("#qt-image")).to_have_attribute("src", re.compile("^blob:"))
    page.wait_for_function("() => document.getElementById('qt-image').naturalWidth === 256")
    shots("quick-test-heatmap")
    page.get_by_label("Show where the model looks").uncheck()
    # A photo unlike anything it was trained on (a cat): answered, but marked unknown.
    page.locator("#qt-file").set_input_files(unrelated_photos()[1])
    expect(page.locator("#qt-unknown")).to_be_visible(timeout=30_000)
    expect(page.locator("#qt-unknown")).to_contain_text("unlike anything the model was trained on")
    shots("quick-test-unknown")

    # Publish, then a client sends a photo to the prediction endpoint.
    tab(page, "Train")
    page.get_by_label(re.compile("^Publish .* as$")).fill("production")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("heading", name="Use the published model")).to_be_visible()
    shots("published")
    sent = photos("polo")[N_TRAIN + 2]
    answer = httpx.post(
        f"{server.endpoint}/customvision/v3.0/prediction/{project_id}"
        "/classify/iterations/production/image",
        headers={"Prediction-Key": server.prediction_key},
        content=sent.read_bytes(),
    )
    assert answer.status_code == 200, answer.text

    # Predictions: the stored photo is there; tag it polo and save it into training.
    tab(page, "Predictions")
    item = page.locator('.review-item[data-kind="prediction"]')
    expect(item).to_have_count(1)
    shots("predictions")
    item.get_by_label("polo").check()
    item.get_by_role("button", name="Save to training").click()
    expect(item).to_have_count(0)
    expect(page.locator("#n-saved")).to_contain_text("1 saved")
    shots("predictions-saved")
    tab(page, "Training images")
    expect(page.locator(".filters")).to_contain_text(f"polo {N_TRAIN + 1}")

    # Retrain, and compare the two iterations.
    tab(page, "Train")
    train_and_wait(page, shots, "second")
    expect(page.locator("tbody tr")).to_have_count(2)
    tab(page, "Performance")
    page.get_by_label("Compare with").select_option(label="Iteration 1")
    expect(page.locator("[data-perf]")).to_have_count(2)
    shots("compare")


def test_phone_width_and_keyboard(page: Page, server: Server, shots: Shots) -> None:
    """The pages work at a phone's width, and the key form works from the keyboard."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.get_by_label("Training key")).to_be_focused()
    page.keyboard.type(server.training_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at a phone's width ({width} px)"
    shots("phone-projects")

    pid = one_tag_project(server, "Phone", "body")
    for section in ("images", "train", "performance", "predictions", "quicktest"):
        page.goto(f"/projects/{pid}/{section}")
        wait_ready(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{section} scrolls sideways at a phone's width ({width} px)"
        shots(f"phone-{section}")


def test_deleting_a_project_asks_first(page: Page, server: Server) -> None:
    created = httpx.post(
        f"{server.endpoint}/api/v1/projects",
        json={"name": "Scratch"},
        headers={"Training-Key": server.training_key},
    )
    assert created.status_code == 201
    login(page, server.training_key)
    row = page.locator("tr", has_text="Scratch")
    wait_ready(page)
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Delete project Scratch").click()
    expect(row).to_have_count(1)  # dismissed: kept
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete project Scratch").click()
    expect(row).to_have_count(0)


def test_bulk_tag_untag_and_delete(page: Page, server: Server) -> None:
    key = {"Training-Key": server.training_key}
    api = f"{server.endpoint}/api/v1"
    project = httpx.post(f"{api}/projects", json={"name": "Bulk"}, headers=key).json()
    pid = project["id"]
    httpx.post(f"{api}/projects/{pid}/tags", json={"name": "hoodie"}, headers=key)
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos("hoodie")[:4]]
    assert httpx.post(f"{api}/projects/{pid}/images", files=files, headers=key).status_code == 200
    login(page, server.training_key, f"/projects/{pid}/images")
    wait_ready(page)
    tiles = page.locator("#image-grid .tile")
    expect(tiles).to_have_count(4)
    tag = page.get_by_role("button", name="Tag", exact=True)
    expect(tag).to_be_disabled()  # nothing selected: disabled, and it says why
    expect(tag).to_have_accessible_description("Select images first")

    tiles.nth(0).get_by_role("checkbox").check()
    tiles.nth(1).get_by_role("checkbox").check()
    expect(page.locator("#n-selected")).to_have_text("2 selected")
    expect(tag).to_have_accessible_description(re.compile("this replaces it"))
    tag.click()
    expect(page.locator(".filters")).to_contain_text("hoodie 2")
    wait_ready(page)
    page.locator("#image-grid .tile").nth(0).get_by_role("checkbox").check()
    page.get_by_role("button", name="Untag", exact=True).click()
    expect(page.locator(".filters")).to_contain_text("hoodie 1")

    wait_ready(page)
    page.get_by_label("Select all on this page").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("No images yet")).to_be_visible()


def test_advanced_training_choice_and_a_refused_training(
    page: Page, server: Server, page_problems: PageProblems, shots: Shots
) -> None:
    """Train is disabled, with the reason, while the tags cannot train; Advanced sends its
    budget in seconds; a training the server refuses says why and can be tried again."""
    pid = one_tag_project(server, "Tops and bodies", "top")
    login(page, server.training_key, f"/projects/{pid}/train")
    wait_ready(page)
    train = page.get_by_role("button", name="Train", exact=True)
    expect(train).to_be_disabled()
    expect(train).to_have_accessible_description(re.compile("at least 2 tags"))

    # Add a second tag's photos: trainable now.
    key = {"Training-Key": server.training_key}
    api = f"{server.endpoint}/api/v1"
    made = httpx.post(f"{api}/projects/{pid}/tags", json={"name": "body"}, headers=key).json()
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos("body")[:6]]
    httpx.post(
        f"{api}/projects/{pid}/images", params={"tag_ids": made["id"]}, files=files, headers=key
    )
    page.reload()
    wait_ready(page)
    budget = page.get_by_label("Advanced training's budget in minutes")
    expect(budget).to_be_disabled()
    page.get_by_label("Advanced, within").check()
    expect(budget).to_be_enabled()
    budget.fill("3")
    shots("train-advanced-choice")

    # Someone else starts a training meanwhile: this page's Train is refused with the reason.
    started = httpx.post(f"{api}/projects/{pid}/train", json={}, headers=key)
    assert started.status_code == 202, started.text
    refused = page_problems.expect(409, f"/api/v1/projects/{pid}/train")
    page.on("dialog", lambda dialog: dialog.accept())  # the data check's notes: train anyway
    with page.expect_request(re.compile(r"/train$")) as sent:
        train.click()
    assert sent.value.post_data_json == {"training_type": "advanced", "budget_seconds": 180}
    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("already training")
    expect(train).to_be_enabled()  # the person can try again
    shots("train-refused")
    assert len(refused.hits) == 1
    httpx.post(
        f"{api}/projects/{pid}/iterations/{started.json()['id']}/cancel", headers=key
    )  # leave the server idle for the next test


def test_the_data_check_shows_a_shortcut(
    page: Page, server: Server, shots: Shots, tmp_path: Path
) -> None:
    """Photos filed at random under two tags, a stamp on every photo of one: the service's data
    check (the Train page) reports that the model tells the tags apart by the stamp."""
    data = write_stamped_split(tmp_path / "data", ("blazer", "body", "hoodie"), 16)
    key = {"Training-Key": server.training_key}
    api = f"{server.endpoint}/api/v1"
    pid = httpx.post(f"{api}/projects", json={"name": "Stamped"}, headers=key).json()["id"]
    for tag in ("a", "b"):
        made = httpx.post(f"{api}/projects/{pid}/tags", json={"name": tag}, headers=key).json()
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in (data / tag).iterdir()]
        added = httpx.post(
            f"{api}/projects/{pid}/images",
            params={"tag_ids": made["id"]},
            files=files,
            headers=key,
            timeout=120,
        )
        assert added.status_code == 200, added.text
    login(page, server.training_key, f"/projects/{pid}/train")
    insights = page.locator("#insights")
    expect(insights).to_have_attribute("data-loaded", "true", timeout=180_000)
    finding = insights.locator('.finding[data-code="shortcut"]')
    expect(finding).to_have_count(1)
    expect(finding).to_contain_text("recognizes 'a' by a small patch in the top right corner")
    expect(finding.locator(".strip img").first).to_be_visible()
    finding.scroll_into_view_if_needed()
    shots("shortcut-finding")
