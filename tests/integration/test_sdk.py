"""Acceptance: the official Custom Vision SDK (3.1.1) against `tagloop serve`, end to end.

One server per module on a temporary data directory, the real EfficientNet-Lite0 (General
domain) and real photos. The tests follow the classification quickstart (spec §8) and build on
each other through module-scoped fixtures, in file order: upload → train → publish → classify →
stored predictions → suggestions → isolation between projects → cleanup.

Only the SDK talks to the Custom Vision routes; plain httpx is used for what the SDK cannot show
(the raw 401 body, `/health`) and for the native per-project key route.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction import models as pm
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training import models as tm
from msrest.authentication import Authentication

from .sdk_support import (
    GENERAL_DOMAIN,
    PREDICTION_PREFIX,
    PREDICTION_RESOURCE_ID,
    PUBLISH_NAME,
    TRAINING_PREFIX,
    LabelPhotos,
    PredictionError,
    Server,
    TrainingError,
    check_image_prediction,
    enlarged_jpeg,
    expect_error,
    image_size,
    pick_photos,
    probabilities,
    project_keys,
    requires_real_photos,
    running_server,
    upload_files,
    wait_for_iteration,
)

pytestmark = [pytest.mark.slow, requires_real_photos]

# blazer / polo / body with seed 0 separate well (held-out accuracy ~1.0 with the library's own
# head; chance is 0.33), so MIN_ACCURACY has margin for a server-side head that differs a bit.
LABELS = ("blazer", "polo", "body")
SEED = 0
N_TRAIN = 40  # per label
ADVANCED_BUDGET_S = 30.0  # the server's advanced budget (reservedBudgetInHours caps it)
N_HELD_OUT = 20  # per label, never tagged
N_FILES = 25  # per label through create_images_from_files (75 → batches of 64 + 11)
N_UNTAGGED = 2  # per label: held-out photos also uploaded without tags (for suggestions)
MIN_ACCURACY = 0.90


def read_raw(path: Path) -> bytes:
    with open(path, "rb") as image_contents:  # as the quickstart does
        return image_contents.read()


# --------------------------------------------------------------------------------------------
# Module fixtures: each step of the quickstart once


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("sdk") / "data"
    env = {"TAGLOOP_ADVANCED_BUDGET_SECONDS": str(ADVANCED_BUDGET_S)}
    with running_server(data_dir, shared_cache, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def trainer(server: Server) -> CustomVisionTrainingClient:
    return server.trainer()


@pytest.fixture(scope="module")
def predictor(server: Server) -> CustomVisionPredictionClient:
    return server.predictor()


@pytest.fixture(scope="module")
def photos() -> dict[str, LabelPhotos]:
    return pick_photos(LABELS, N_TRAIN, N_HELD_OUT, seed=SEED)


@dataclass
class DataUpload:
    label: str
    raw: bytes
    result: tm.ImageCreateResult


@dataclass
class Uploaded:
    project: tm.Project
    name: str
    tags: dict[str, tm.Tag]  # label → tag
    file_results: list[tm.ImageCreateResult]
    data_uploads: list[DataUpload]  # tagged, one create_images_from_data call each
    duplicate: tm.ImageCreateSummary
    duplicate_of: tm.ImageCreateResult
    untagged: list[DataUpload]


@pytest.fixture(scope="module")
def uploaded(trainer: CustomVisionTrainingClient, photos: dict[str, LabelPhotos]) -> Uploaded:
    name = str(uuid.uuid4())  # the quickstart names its project with a uuid
    project = trainer.create_project(name)
    tags = {label: trainer.create_tag(project.id, label) for label in LABELS}

    entries = [
        tm.ImageFileCreateEntry(name=path.name, contents=read_raw(path), tag_ids=[tags[label].id])
        for label in LABELS
        for path in photos[label].train[:N_FILES]
    ]
    file_results = upload_files(trainer, project.id, entries)

    data_uploads = []
    for label in LABELS:
        for k, path in enumerate(photos[label].train[N_FILES:]):
            # One photo per label goes up enlarged to > 1 MB (same content, more pixels).
            raw = enlarged_jpeg(path) if k == 0 else read_raw(path)
            summary = trainer.create_images_from_data(project.id, raw, tag_ids=[tags[label].id])
            assert summary is not None and summary.is_batch_successful is True, path
            assert [image.status for image in summary.images] == ["OK"], path
            data_uploads.append(DataUpload(label, raw, summary.images[0]))

    # The same bytes again: the existing image comes back as a duplicate.
    duplicate_of = file_results[0]
    duplicate = trainer.create_images_from_data(
        project.id, read_raw(photos[LABELS[0]].train[0]), tag_ids=[tags[LABELS[0]].id]
    )

    untagged = []
    for label in LABELS:
        for path in photos[label].held_out[:N_UNTAGGED]:
            raw = read_raw(path)
            summary = trainer.create_images_from_data(project.id, raw)
            assert summary is not None and summary.is_batch_successful is True, path
            assert [image.status for image in summary.images] == ["OK"], path
            untagged.append(DataUpload(label, raw, summary.images[0]))

    return Uploaded(
        project, name, tags, file_results, data_uploads, duplicate, duplicate_of, untagged
    )


@dataclass
class Trained:
    started: tm.Iteration  # what train_project answered
    seconds_to_answer: float
    iteration: tm.Iteration  # after polling to Completed


@pytest.fixture(scope="module")
def trained(server: Server, trainer: CustomVisionTrainingClient, uploaded: Uploaded) -> Trained:
    t0 = time.monotonic()
    started = trainer.train_project(uploaded.project.id)
    seconds = time.monotonic() - t0
    assert started is not None and started.id, "train_project answered no iteration"
    done = wait_for_iteration(trainer, uploaded.project.id, started.id, timeout=300, server=server)
    return Trained(started, seconds, done)


@pytest.fixture(scope="module")
def published(
    trainer: CustomVisionTrainingClient, uploaded: Uploaded, trained: Trained
) -> tm.Iteration:
    answer = trainer.publish_iteration(
        uploaded.project.id, trained.iteration.id, PUBLISH_NAME, PREDICTION_RESOURCE_ID
    )
    assert answer is True
    return trainer.get_iteration(uploaded.project.id, trained.iteration.id)


@dataclass
class Classification:
    label: str
    path: Path
    raw: bytes
    prediction: pm.ImagePrediction


@dataclass
class Classified:
    held_out: list[Classification]  # every held-out photo, as is
    enlarged: list[Classification]  # one held-out photo per label, enlarged to > 1 MB

    @property
    def stored(self) -> list[Classification]:
        """Every classify_image call, in call order."""
        return self.held_out + self.enlarged


@pytest.fixture(scope="module")
def classified(
    predictor: CustomVisionPredictionClient,
    uploaded: Uploaded,
    published: tm.Iteration,
    photos: dict[str, LabelPhotos],
) -> Classified:
    project_id = uploaded.project.id
    held_out, enlarged = [], []
    for label in LABELS:
        for path in photos[label].held_out:
            raw = read_raw(path)
            prediction = predictor.classify_image(project_id, PUBLISH_NAME, raw)
            held_out.append(Classification(label, path, raw, prediction))
    for label in LABELS:
        path = photos[label].held_out[-1]
        raw = enlarged_jpeg(path)
        prediction = predictor.classify_image(project_id, PUBLISH_NAME, raw)
        enlarged.append(Classification(label, path, raw, prediction))
    return Classified(held_out, enlarged)


# --------------------------------------------------------------------------------------------
# Keys and errors (no project needed)


def test_health_needs_no_key_and_a_bad_key_gets_a_json_401(server: Server) -> None:
    base = server.endpoint
    assert httpx.get(f"{base}/health", timeout=30).status_code == 200

    attempts = {
        "no key": httpx.get(f"{base}{TRAINING_PREFIX}/projects", timeout=30),
        "wrong key": httpx.get(
            f"{base}{TRAINING_PREFIX}/projects", headers={"Training-Key": "nope"}, timeout=30
        ),
        "prediction without key": httpx.post(
            f"{base}{PREDICTION_PREFIX}/{uuid.uuid4()}/classify/iterations/x/image",
            files={"imageData": b"not an image"},
            timeout=30,
        ),
    }
    for what, response in attempts.items():
        assert response.status_code == 401, (what, response.status_code, response.text)
        assert "json" in response.headers.get("content-type", ""), (what, response.headers)
        body = response.json()
        assert body["code"] == "Unauthorized", (what, body)
        assert isinstance(body["message"], str) and body["message"], (what, body)

    # Header names are case-insensitive: the portal spelling and the quickstart spelling.
    for header in ("Training-Key", "Training-key", "training-key"):
        response = httpx.get(
            f"{base}{TRAINING_PREFIX}/projects", headers={header: server.training_key}, timeout=30
        )
        assert response.status_code == 200, (header, response.text)
        assert isinstance(response.json(), list)


def test_wrong_or_missing_key_is_a_401_custom_vision_error(server: Server) -> None:
    photo = b"\xff\xd8 not really a jpeg"
    trainers = {
        "a wrong training key": server.trainer("wrong-key"),
        "the prediction key as training key": server.trainer(server.prediction_key),
        "no training key": CustomVisionTrainingClient(server.endpoint, Authentication()),
    }
    for what, trainer in trainers.items():
        expect_error(trainer.get_projects, 401, "Unauthorized", what=f"get_projects, {what}")
        expect_error(
            lambda t=trainer: t.create_project("x"),
            401,
            "Unauthorized",
            what=f"create_project, {what}",
        )
    predictors = {
        "a wrong prediction key": server.predictor("wrong-key"),
        "no prediction key": CustomVisionPredictionClient(server.endpoint, Authentication()),
    }
    for what, predictor in predictors.items():
        expect_error(
            lambda p=predictor: p.classify_image(str(uuid.uuid4()), PUBLISH_NAME, photo),
            401,
            "Unauthorized",
            exc_type=PredictionError,
            what=f"classify_image, {what}",
        )


# --------------------------------------------------------------------------------------------
# Quickstart, step by step


def test_project_tags_and_uploads(trainer: CustomVisionTrainingClient, uploaded: Uploaded) -> None:
    project_id = uploaded.project.id
    project = trainer.get_project(project_id)
    assert project.id == project_id
    assert project.name == uploaded.name
    assert project.description == ""
    assert project.settings.domain_id == GENERAL_DOMAIN
    assert project.settings.classification_type == "Multiclass"
    assert project_id in {p.id for p in trainer.get_projects()}

    tags = trainer.get_tags(project_id)
    assert sorted(t.name for t in tags) == sorted(LABELS)
    assert {t.id for t in tags} == {t.id for t in uploaded.tags.values()}
    for tag in tags:
        assert tag.description == "" and tag.type == "Regular", tag
        assert tag.image_count == N_TRAIN, (tag.name, tag.image_count)  # the duplicate is no extra

    assert trainer.get_tagged_image_count(project_id) == N_TRAIN * len(LABELS)
    for label, tag in uploaded.tags.items():
        assert trainer.get_tagged_image_count(project_id, tag_ids=[tag.id]) == N_TRAIN, label
    assert trainer.get_untagged_image_count(project_id) == N_UNTAGGED * len(LABELS)

    # Tagged uploads carry their tag; raw-bytes uploads round-trip (the decoded size matches).
    for result in uploaded.file_results:
        assert result.image is not None and result.image.id
    for upload in uploaded.data_uploads:
        image = upload.result.image
        assert image is not None and image.id
        assert [t.tag_id for t in image.tags] == [uploaded.tags[upload.label].id]
        assert (image.width, image.height) == image_size(upload.raw)
    large = [u for u in uploaded.data_uploads if len(u.raw) > 1_000_000]
    assert len(large) == len(LABELS), "one > 1 MB upload per label"
    for upload in uploaded.untagged:
        assert upload.result.image is not None and upload.result.image.id
        assert not upload.result.image.tags
    all_ids = [r.image.id for r in uploaded.file_results]
    all_ids += [u.result.image.id for u in uploaded.data_uploads + uploaded.untagged]
    assert len(set(all_ids)) == len(all_ids)

    # The same bytes uploaded again: OKDuplicate, pointing at the existing image.
    duplicate = uploaded.duplicate
    assert duplicate is not None and len(duplicate.images) == 1
    assert duplicate.images[0].status == "OKDuplicate"
    assert duplicate.images[0].image is not None
    assert duplicate.images[0].image.id == uploaded.duplicate_of.image.id


def test_training_answers_at_once_then_completes(
    trainer: CustomVisionTrainingClient, uploaded: Uploaded, trained: Trained
) -> None:
    started, done = trained.started, trained.iteration
    assert started.status == "Training"
    assert trained.seconds_to_answer < 20, "train_project must not block until training ends"
    assert started.name == "Iteration 1"
    assert started.project_id == uploaded.project.id
    assert started.trained_at is None
    assert started.training_error_details is None

    assert done.id == started.id and done.status == "Completed"
    assert done.trained_at is not None
    assert done.training_error_details is None
    assert done.publish_name is None
    assert done.domain_id == GENERAL_DOMAIN
    assert done.classification_type == "Multiclass"
    assert [it.id for it in trainer.get_iterations(uploaded.project.id)] == [started.id]


def test_iteration_performance(
    trainer: CustomVisionTrainingClient, uploaded: Uploaded, trained: Trained
) -> None:
    perf = trainer.get_iteration_performance(
        uploaded.project.id, trained.iteration.id, threshold=0.5
    )
    for value in (perf.precision, perf.recall, perf.average_precision):
        assert value is not None and 0.0 <= value <= 1.0, perf
    # Chance is 0.33 on these three well-separated labels; a broken model lands near it.
    assert perf.average_precision > 0.5, perf
    by_id = {t.id: t for t in perf.per_tag_performance}
    assert set(by_id) == {t.id for t in uploaded.tags.values()}
    for label, tag in uploaded.tags.items():
        tag_perf = by_id[tag.id]
        assert tag_perf.name == label
        for value in (tag_perf.precision, tag_perf.recall, tag_perf.average_precision):
            assert value is not None and 0.0 <= value <= 1.0, tag_perf


def test_image_performances(
    trainer: CustomVisionTrainingClient, uploaded: Uploaded, trained: Trained
) -> None:
    project_id, iteration_id = uploaded.project.id, trained.iteration.id
    tag_ids = {t.id for t in uploaded.tags.values()}
    items = trainer.get_image_performances(project_id, iteration_id)
    assert items, "no image performances"
    assert len(items) <= 50  # `take` defaults to 50
    for item in items:
        assert isinstance(item, tm.ImagePerformance)
        assert item.id
        assert item.predictions, item.id
        assert {p.tag_id for p in item.predictions} <= tag_ids
        assert all(0.0 <= p.probability <= 1.0 for p in item.predictions)
        assert item.tags and {t.tag_id for t in item.tags} <= tag_ids
    count = trainer.get_image_performance_count(project_id, iteration_id)
    assert len(items) <= count <= N_TRAIN * len(LABELS)


def test_publish(uploaded: Uploaded, published: tm.Iteration) -> None:
    assert published.status == "Completed"
    assert published.publish_name == PUBLISH_NAME
    assert published.original_publish_resource_id == PREDICTION_RESOURCE_ID


def test_classify_held_out_photos(
    uploaded: Uploaded, published: tm.Iteration, classified: Classified
) -> None:
    for item in classified.stored:
        check_image_prediction(item.prediction, uploaded.project.id, published.id, set(LABELS))
    hits = sum(c.prediction.predictions[0].tag_name == c.label for c in classified.held_out)
    accuracy = hits / len(classified.held_out)
    print(f"SDK held-out top-1 accuracy: {accuracy:.3f} ({hits}/{len(classified.held_out)})")  # noqa: T201
    assert accuracy >= MIN_ACCURACY, accuracy


def test_classify_photos_over_one_megabyte(classified: Classified) -> None:
    """Raw bytes over 1 MB survive the multipart upload: same top class as the original."""
    original = {c.path: c.prediction for c in classified.held_out}
    for item in classified.enlarged:
        assert len(item.raw) > 1_000_000
        expected = original[item.path].predictions[0].tag_name
        assert item.prediction.predictions[0].tag_name == expected, item.path


def test_classify_with_no_store_gives_the_same_answer(
    predictor: CustomVisionPredictionClient, uploaded: Uploaded, classified: Classified
) -> None:
    stored = classified.held_out[0]
    fresh = predictor.classify_image_with_no_store(uploaded.project.id, PUBLISH_NAME, stored.raw)
    check_image_prediction(fresh, uploaded.project.id, stored.prediction.iteration, set(LABELS))
    assert fresh.predictions[0].tag_name == stored.prediction.predictions[0].tag_name
    before, after = probabilities(stored.prediction), probabilities(fresh)
    for name, probability in before.items():
        assert abs(after[name] - probability) <= 1e-5, (name, probability, after[name])


def _all_stored_predictions(
    trainer: CustomVisionTrainingClient, project_id: str, token: tm.PredictionQueryToken
) -> list[tm.StoredImagePrediction]:
    results: list[tm.StoredImagePrediction] = []
    for _ in range(100):  # follow `continuation` until it is empty
        page = trainer.query_predictions(project_id, token)
        results.extend(page.results or [])
        if page.token is None or not page.token.continuation:
            return results
        token = page.token
    pytest.fail("query_predictions kept answering a continuation")


def test_query_predictions_returns_the_stored_classifications(
    trainer: CustomVisionTrainingClient, uploaded: Uploaded, classified: Classified
) -> None:
    project_id = uploaded.project.id
    calls = classified.stored
    results = _all_stored_predictions(
        trainer, project_id, tm.PredictionQueryToken(order_by="Newest", max_count=len(calls) + 20)
    )
    assert len(results) == len(calls), "one stored prediction per classify_image, none for nostore"
    assert {r.id for r in results} == {c.prediction.id for c in calls}
    answered = {c.prediction.id: c.prediction for c in calls}
    for result in results:
        assert result.project == project_id
        assert result.iteration == answered[result.id].iteration
        assert result.domain == GENERAL_DOMAIN
        assert result.original_image_uri
        got, expected = probabilities(result), probabilities(answered[result.id])
        assert got.keys() == expected.keys()
        assert all(abs(got[k] - expected[k]) <= 1e-5 for k in got), (got, expected)
    created = [r.created for r in results]
    assert created == sorted(created, reverse=True), "order_by=Newest"

    oldest = trainer.query_predictions(
        project_id, tm.PredictionQueryToken(order_by="Oldest", max_count=5)
    )
    assert [r.id for r in oldest.results] == [c.prediction.id for c in calls[:5]]


def test_suggested_tags_for_untagged_images(
    trainer: CustomVisionTrainingClient, uploaded: Uploaded, trained: Trained
) -> None:
    project_id, iteration_id = uploaded.project.id, trained.iteration.id
    tag_ids = [t.id for t in uploaded.tags.values()]
    n_untagged = len(uploaded.untagged)

    # Every untagged image has every tag with probability >= 0.
    counts = trainer.query_suggested_image_count(
        project_id, iteration_id, tag_ids=tag_ids, threshold=0.0
    )
    assert counts == dict.fromkeys(tag_ids, n_untagged), counts

    query = trainer.query_suggested_images(
        project_id,
        iteration_id,
        tm.SuggestedTagAndRegionQueryToken(tag_ids=tag_ids, threshold=0.0, max_count=10),
    )
    assert query is not None and len(query.results) == n_untagged
    assert len({r.id for r in query.results}) == n_untagged
    names = {t.id: t.name for t in uploaded.tags.values()}
    for result in query.results:
        assert isinstance(result, tm.StoredSuggestedTagAndRegion)
        assert result.project == project_id
        assert result.iteration == iteration_id
        assert result.predictions
        assert {p.tag_id for p in result.predictions} == set(tag_ids)
        assert all(names[p.tag_id] == p.tag_name for p in result.predictions)
        assert all(0.0 <= p.probability <= 1.0 for p in result.predictions)
        uncertainty = result.prediction_uncertainty
        assert uncertainty is not None and math.isfinite(uncertainty) and uncertainty >= 0.0

    # A threshold counts, per tag, the images whose probability for it reaches the threshold.
    half = trainer.query_suggested_image_count(
        project_id, iteration_id, tag_ids=tag_ids, threshold=0.5
    )
    for tag_id in tag_ids:
        expected = sum(
            any(p.tag_id == tag_id and p.probability >= 0.5 for p in r.predictions)
            for r in query.results
        )
        assert half.get(tag_id, 0) == expected, (tag_id, half, expected)


def test_project_keys_isolate_projects(
    server: Server,
    trainer: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    uploaded: Uploaded,
    published: tm.Iteration,
    classified: Classified,
) -> None:
    """Project A's keys open A only; on B they answer like a project that does not exist."""
    b = uploaded.project  # trained and published as PUBLISH_NAME
    raw = classified.held_out[0].raw
    a = trainer.create_project(str(uuid.uuid4()))
    keys = project_keys(server, a.id)
    a_trainer, a_predictor = (
        server.trainer(keys.training_key),
        server.predictor(keys.prediction_key),
    )

    # A's keys work on A.
    assert a_trainer.get_project(a.id).id == a.id
    a_tag = a_trainer.create_tag(a.id, "only-in-a")
    summary = a_trainer.create_images_from_data(a.id, raw, tag_ids=[a_tag.id])
    assert [image.status for image in summary.images] == ["OK"]
    expect_error(
        lambda: a_predictor.classify_image(a.id, PUBLISH_NAME, raw),
        404,
        exc_type=PredictionError,
        what="classify_image on A, which has no published iteration",
    )

    # A's training key on B: every route 404 NotFoundProject, as for an id that does not exist.
    b_tag = uploaded.tags[LABELS[0]]
    b_image = uploaded.untagged[0].result.image
    attempts = {
        "get_project": lambda: a_trainer.get_project(b.id),
        "get_tags": lambda: a_trainer.get_tags(b.id),
        "create_tag": lambda: a_trainer.create_tag(b.id, "intruder"),
        "create_images_from_data": lambda: a_trainer.create_images_from_data(
            b.id, raw, tag_ids=[b_tag.id]
        ),
        "create_image_tags": lambda: a_trainer.create_image_tags(
            b.id, [tm.ImageTagCreateEntry(image_id=b_image.id, tag_id=b_tag.id)]
        ),
        "get_iteration": lambda: a_trainer.get_iteration(b.id, published.id),
        "query_predictions": lambda: a_trainer.query_predictions(
            b.id, tm.PredictionQueryToken(max_count=5)
        ),
        "get_project(unknown id)": lambda: a_trainer.get_project(str(uuid.uuid4())),
    }
    for what, attempt in attempts.items():
        expect_error(
            attempt, 404, "NotFoundProject", what=f"{what} with project A's key on project B"
        )

    # A's key does not list B.
    try:
        listed = {p.id for p in a_trainer.get_projects()}
    except tm.CustomVisionErrorException as exc:
        assert 400 <= exc.response.status_code < 500
    else:
        assert b.id not in listed

    # A's prediction key on B's published model: 404 as well.
    expect_error(
        lambda: a_predictor.classify_image(b.id, PUBLISH_NAME, raw),
        404,
        exc_type=PredictionError,
        what="classify_image with project A's prediction key on project B",
    )
    expect_error(
        lambda: a_predictor.classify_image_with_no_store(b.id, PUBLISH_NAME, raw),
        404,
        exc_type=PredictionError,
        what="classify_image_with_no_store with project A's prediction key on project B",
    )

    # A's key cannot read B's keys; a wrong key gets a 401.
    url = f"{server.endpoint}/api/v1/projects/{b.id}/keys"
    response = httpx.get(url, headers={"Training-Key": keys.training_key}, timeout=30)
    assert response.status_code in (401, 403, 404), response.text
    response = httpx.get(url, headers={"Training-Key": "wrong"}, timeout=30)
    assert response.status_code == 401, response.text

    # Nothing reached B, and B still answers the server-wide keys.
    assert sorted(t.name for t in trainer.get_tags(b.id)) == sorted(LABELS)
    assert trainer.get_tagged_image_count(b.id) == N_TRAIN * len(LABELS)
    assert trainer.get_untagged_image_count(b.id) == len(uploaded.untagged)
    still = predictor.classify_image_with_no_store(b.id, PUBLISH_NAME, raw)
    check_image_prediction(still, b.id, published.id, set(LABELS))

    trainer.delete_project(a.id)


def test_advanced_training_through_the_sdk(
    server: Server, trainer: CustomVisionTrainingClient, uploaded: Uploaded
) -> None:
    """train_project(training_type="Advanced", reserved_budget_in_hours=1): the hour caps the
    server's budget (TAGLOOP_ADVANCED_BUDGET_SECONDS); the iteration says Advanced."""
    project_id = uploaded.project.id
    started = time.monotonic()
    iteration = trainer.train_project(
        project_id, training_type="Advanced", reserved_budget_in_hours=1, force_train=True
    )
    assert (iteration.status, iteration.training_type) == ("Training", "Advanced")
    assert iteration.reserved_budget_in_hours == 1
    done = wait_for_iteration(trainer, project_id, iteration.id, timeout=180, server=server)
    assert time.monotonic() - started <= ADVANCED_BUDGET_S * 1.15 + 5  # + polling
    assert (done.training_type, done.reserved_budget_in_hours) == ("Advanced", 1)
    performance = trainer.get_iteration_performance(project_id, iteration.id)
    assert {t.name for t in performance.per_tag_performance} == set(LABELS)
    assert 0.0 <= performance.precision <= 1.0
    with pytest.raises(TrainingError):
        trainer.train_project(project_id, training_type="Expert", force_train=True)
    trainer.delete_iteration(project_id, iteration.id)


def test_readme_sdk_example_runs_as_shown(
    server: Server, photos: dict[str, LabelPhotos], capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's SDK snippet, with only its placeholders filled in, runs end to end."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    match = re.search(r"<!-- snippet:sdk -->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README.md lost its SDK snippet"
    code = match.group(1)
    fills = {
        'endpoint = "http://127.0.0.1:8000"': f"endpoint = {server.endpoint!r}",
        'TK, PK = "<training key>", "<prediction key>"': (
            f"TK, PK = {server.training_key!r}, {server.prediction_key!r}"
        ),
        '"new.jpg"': repr(str(photos[LABELS[0]].held_out[0])),
    }
    for placeholder, value in fills.items():
        assert placeholder in code, placeholder
        code = code.replace(placeholder, value)
    code = re.sub(
        r"^photos = .*$",
        "photos = " + repr({k: [str(p) for p in v.train[:6]] for k, v in photos.items()}),
        code,
        flags=re.M,
    )
    exec(compile(code, "README.md:snippet:sdk", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out
    assert LABELS[0] in printed and "(" in printed, printed


def test_cleanup(
    trainer: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    uploaded: Uploaded,
    published: tm.Iteration,
    classified: Classified,
) -> None:
    project_id, iteration_id = uploaded.project.id, published.id
    raw = classified.held_out[0].raw

    trainer.unpublish_iteration(project_id, iteration_id)
    assert not trainer.get_iteration(project_id, iteration_id).publish_name
    expect_error(
        lambda: predictor.classify_image(project_id, PUBLISH_NAME, raw),
        404,
        exc_type=PredictionError,
        what="classify_image after unpublish_iteration",
    )
    trainer.delete_tag(project_id, uploaded.tags[LABELS[0]].id)
    assert sorted(t.name for t in trainer.get_tags(project_id)) == sorted(LABELS[1:])
    trainer.delete_iteration(project_id, iteration_id)
    assert trainer.get_iterations(project_id) == []
    trainer.delete_project(project_id)

    expect_error(
        lambda: trainer.get_project(project_id),
        404,
        "NotFoundProject",
        what="get_project after delete_project",
    )
    assert project_id not in {p.id for p in trainer.get_projects()}
