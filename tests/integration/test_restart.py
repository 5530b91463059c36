"""Acceptance: `tagloop serve` keeps its state in --data-dir across restarts and crashes.

Each test starts the real server (real EfficientNet-Lite0, real photos), drives it with the
official SDK, stops it (SIGTERM, or SIGKILL mid-training) and starts a new process on the same
data directory.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training import models as tm

from .sdk_support import (
    GENERAL_DOMAIN,
    ITERATION_STATES,
    PREDICTION_RESOURCE_ID,
    PUBLISH_NAME,
    check_image_prediction,
    pick_photos,
    probabilities,
    project_keys,
    requires_real_photos,
    running_server,
    upload_files,
    wait_for_iteration,
)

pytestmark = [pytest.mark.slow, requires_real_photos]

LABELS = ("blazer", "polo", "body")
N_PER_LABEL = 8  # the service wants >= 2 tags with >= 5 images each
N_CLASSIFIED = 5


def _entries(
    photos: dict[str, list[Path]], tags: dict[str, tm.Tag]
) -> list[tm.ImageFileCreateEntry]:
    return [
        tm.ImageFileCreateEntry(
            name=path.name, contents=path.read_bytes(), tag_ids=[tags[label].id]
        )
        for label, paths in photos.items()
        for path in paths
    ]


def test_state_and_predictions_survive_a_restart(tmp_path: Path, shared_cache: Path) -> None:
    picked = pick_photos(LABELS, N_PER_LABEL, 2, seed=1)
    held_out = [path for label in LABELS for path in picked[label].held_out]
    to_classify = held_out[:N_CLASSIFIED]
    untagged_photo = held_out[-1]
    data_dir = tmp_path / "data"

    with running_server(data_dir, shared_cache) as first:
        trainer, predictor = first.trainer(), first.predictor()
        project = trainer.create_project(str(uuid.uuid4()))
        tags = {label: trainer.create_tag(project.id, label) for label in LABELS}
        upload_files(trainer, project.id, _entries({k: v.train for k, v in picked.items()}, tags))
        summary = trainer.create_images_from_data(project.id, untagged_photo.read_bytes())
        assert [image.status for image in summary.images] == ["OK"]
        started = trainer.train_project(project.id)
        assert started.status == "Training"
        done = wait_for_iteration(trainer, project.id, started.id, server=first)
        assert trainer.publish_iteration(project.id, done.id, PUBLISH_NAME, PREDICTION_RESOURCE_ID)
        before = {}
        for path in to_classify:
            prediction = predictor.classify_image(project.id, PUBLISH_NAME, path.read_bytes())
            check_image_prediction(prediction, project.id, done.id, set(LABELS))
            before[path] = prediction
        keys = project_keys(first, project.id)
        tags_before = {t.id: (t.name, t.image_count) for t in trainer.get_tags(project.id)}
        iteration_before = trainer.get_iteration(project.id, done.id)
        first.stop()  # SIGTERM; fails if it does not exit

    with running_server(data_dir, shared_cache) as second:
        trainer, predictor = second.trainer(), second.predictor()
        log = second.log_tail

        assert project.id in {p.id for p in trainer.get_projects()}, log()
        again = trainer.get_project(project.id)
        assert again.name == project.name
        assert again.description == ""
        assert again.settings.domain_id == GENERAL_DOMAIN

        assert {t.id: (t.name, t.image_count) for t in trainer.get_tags(project.id)} == (
            tags_before
        )
        assert all(count == N_PER_LABEL for _, count in tags_before.values())
        assert trainer.get_tagged_image_count(project.id) == N_PER_LABEL * len(LABELS)
        for label, tag in tags.items():
            assert trainer.get_tagged_image_count(project.id, tag_ids=[tag.id]) == N_PER_LABEL, (
                label
            )
        assert trainer.get_untagged_image_count(project.id) == 1

        iterations = trainer.get_iterations(project.id)
        assert [it.id for it in iterations] == [done.id]
        iteration = trainer.get_iteration(project.id, done.id)
        assert iteration.status == "Completed"
        assert iteration.name == iteration_before.name
        assert iteration.trained_at is not None and iteration_before.trained_at is not None
        assert abs((iteration.trained_at - iteration_before.trained_at).total_seconds()) < 1
        assert iteration.publish_name == PUBLISH_NAME
        assert iteration.original_publish_resource_id == PREDICTION_RESOURCE_ID

        # Stored predictions and per-project keys are part of the state too.
        stored = trainer.query_predictions(
            project.id, tm.PredictionQueryToken(order_by="Newest", max_count=50)
        )
        assert {r.id for r in stored.results} == {p.id for p in before.values()}
        assert second.trainer(keys.training_key).get_project(project.id).id == project.id

        # The published model answers exactly as before.
        for path, expected in before.items():
            prediction = predictor.classify_image(project.id, PUBLISH_NAME, path.read_bytes())
            check_image_prediction(prediction, project.id, done.id, set(LABELS))
            got, want = probabilities(prediction), probabilities(expected)
            assert got.keys() == want.keys()
            for name, probability in want.items():
                assert abs(got[name] - probability) <= 1e-5, (path.name, name, got, want)
            assert (
                second.predictor(keys.prediction_key)
                .classify_image_with_no_store(project.id, PUBLISH_NAME, path.read_bytes())
                .predictions[0]
                .tag_name
                == prediction.predictions[0].tag_name
            )


def test_a_server_killed_mid_training_does_not_leave_it_training_forever(tmp_path: Path) -> None:
    # An empty cache: the training embeds every photo first, seconds of work to kill it in.
    labels = ("undershirt", "top")
    picked = pick_photos(labels, 30, 0, seed=2)
    data_dir, cache = tmp_path / "data", tmp_path / "cache"

    with running_server(data_dir, cache) as first:
        trainer = first.trainer()
        project = trainer.create_project(str(uuid.uuid4()))
        tags = {label: trainer.create_tag(project.id, label) for label in labels}
        upload_files(trainer, project.id, _entries({k: v.train for k, v in picked.items()}, tags))
        started = trainer.train_project(project.id)
        assert started.status == "Training"
        still_training = trainer.get_iteration(project.id, started.id).status == "Training"
        first.kill()  # SIGKILL: no shutdown hook runs
    assert still_training, "training finished before the kill: the test needs slower training"

    with running_server(data_dir, cache) as second:
        trainer = second.trainer()
        deadline = time.monotonic() + 60
        while True:
            iteration = trainer.get_iteration(project.id, started.id)
            assert iteration.status in ITERATION_STATES, iteration.status
            if iteration.status != "Training":
                break
            if time.monotonic() > deadline:
                pytest.fail(f"still 'Training' 60 s after a restart\n{second.log_tail()}")
            time.sleep(0.5)
        if iteration.status == "Failed":
            details = iteration.training_error_details
            assert isinstance(details, str) and details.strip(), iteration
        else:
            assert iteration.status == "Completed"
            assert iteration.trained_at is not None

        # The project is usable again: a new training is accepted and completes.
        retry = trainer.train_project(project.id, force_train=True)
        assert retry.status == "Training" and retry.id != started.id
        done = wait_for_iteration(trainer, project.id, retry.id, server=second)
        assert done.status == "Completed"
