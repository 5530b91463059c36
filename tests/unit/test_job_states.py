"""Training job and iteration states in the store: a cancel is final; a late result is dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagloop.store.db import Database, open_database
from tagloop.store.queries import iterations as queries
from tagloop.store.queries import projects as project_queries
from tagloop.workspace.jobs import stop_job

REASON = "Cancelled by the user."


@pytest.fixture
def database(tmp_path: Path) -> Database:
    return open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _queue_training(database: Database) -> tuple[str, str, str]:
    """A project with one ``Training`` iteration and its queued job: (project, iteration, job)."""
    with database.session() as session:
        project = project_queries.create_project(
            session,
            name="p",
            description="",
            classification_type="Multiclass",
            domain_id="d",
            backbone="b",
        )
        iteration = queries.create_iteration(
            session,
            project_id=project.id,
            classification_type="Multiclass",
            domain_id="d",
            backbone="b",
            fingerprint="f",
            tags=[],
            images=[],
        )
        job = queries.enqueue_job(
            session, kind="train", project_id=project.id, iteration_id=iteration.id
        )
    return project.id, iteration.id, job.id


def _complete(database: Database, iteration_id: str) -> bool:
    with database.session() as session:
        return queries.complete_iteration(
            session,
            iteration_id=iteration_id,
            model_sha="0" * 64,
            model_meta={},
            tags=[],
            training_seconds=1.0,
            proba={},
        )


def _cancel(database: Database, iteration_id: str) -> tuple[bool, str | None]:
    """(iteration failed by this cancel, status of the job it found open)."""
    with database.session() as session:
        failed = queries.fail_iteration(session, iteration_id=iteration_id, error=REASON)
        job = queries.cancel_job(session, iteration_id=iteration_id, error=REASON)
    return failed, None if job is None else job.status


def test_a_job_cancelled_while_queued_is_never_claimed_nor_recovered(database: Database) -> None:
    project_id, iteration_id, job_id = _queue_training(database)
    assert _cancel(database, iteration_id) == (True, "queued")
    with database.session() as session:
        assert queries.claim_job(session) is None
        assert queries.interrupted_jobs(session) == []
        assert queries.active_job(session, project_id=project_id) is None
        job = queries.job_for_iteration(session, iteration_id=iteration_id)
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
    assert job is not None and (job.id, job.status, job.error) == (job_id, "cancelled", REASON)
    assert job.finished is not None
    assert (iteration.status, iteration.error) == ("Failed", REASON)


def test_a_job_cancelled_while_running_cannot_report_or_complete(database: Database) -> None:
    project_id, iteration_id, job_id = _queue_training(database)
    with database.session() as session:
        claimed = queries.claim_job(session)
        assert claimed is not None and claimed.id == job_id
        assert queries.set_job_progress(session, job_id=job_id, progress={"stage": "embed"})
    assert _cancel(database, iteration_id) == (True, "running")
    with database.session() as session:
        assert not queries.set_job_progress(session, job_id=job_id, progress={"stage": "train"})
        queries.finish_job(session, job_id=job_id)  # the worker's late "done" is ignored
        assert queries.interrupted_jobs(session) == []  # a restart does not run it again
    assert not _complete(database, iteration_id)
    with database.session() as session:
        job = queries.job_for_iteration(session, iteration_id=iteration_id)
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
    assert job is not None and (job.status, job.error) == ("cancelled", REASON)
    assert job.progress == {"stage": "embed"}
    assert (iteration.status, iteration.error, iteration.model_sha) == ("Failed", REASON, None)


def test_only_a_training_iteration_can_be_cancelled(database: Database) -> None:
    project_id, iteration_id, job_id = _queue_training(database)
    with database.session() as session:
        queries.claim_job(session)
    assert _complete(database, iteration_id)
    with database.session() as session:
        queries.finish_job(session, job_id=job_id)
    assert _cancel(database, iteration_id) == (False, None)
    with database.session() as session:
        iteration = queries.get_iteration(session, project_id=project_id, iteration_id=iteration_id)
        job = queries.job_for_iteration(session, iteration_id=iteration_id)
    assert (iteration.status, iteration.error, iteration.model_sha) == ("Completed", None, "0" * 64)
    assert job is not None and job.status == "done"


def test_stopping_a_job_this_process_does_not_run_is_a_no_op() -> None:
    assert stop_job("not-running") is False
