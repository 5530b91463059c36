"""Durable jobs: a worker thread in the server runs queued training jobs; at start, jobs a
stopped server left running are queued again (or failed after MAX_ATTEMPTS interruptions).

A cancelled job is marked ``cancelled`` in the database first (so it is never claimed or
recovered), then the job running it, if any, is told through ``stop_job``; it notices at its
next progress report (or, from another process, at its next progress write) and unwinds.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tagloop.errors import TagloopError
from tagloop.pipeline import train_and_package
from tagloop.store.packages import META_FILE, MODEL_FILE
from tagloop.store.queries import images as image_queries
from tagloop.store.queries import iterations as queries
from tagloop.store.records import JobRecord
from tagloop.store.scratch import make_scratch_dir, remove_stale_dirs
from tagloop.train.service import TrainSpec
from tagloop.types import ImageItem
from tagloop.workspace.context import Workspace
from tagloop.workspace.projects import collect_blobs, collect_orphan_blobs

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job interrupted twice (the server died both times) is failed, not retried
GROUP_KEY = "group"  # image metadata key that keeps related images in one cross-validation fold


class TrainingCancelled(Exception):
    """Raised inside a running training job whose job was cancelled (or deleted): unwinds it
    without a result. The cancel already wrote the final state, so nothing else is written.
    """


class _RunningJobs:
    """The jobs this process runs now, each with an event set when its cancel is asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    @contextmanager
    def track(self, job_id: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._events[job_id] = event
        try:
            yield event
        finally:
            with self._lock:
                self._events.pop(job_id, None)

    def stop(self, job_id: str) -> bool:
        with self._lock:
            event = self._events.get(job_id)
        if event is not None:
            event.set()
        return event is not None


_running = _RunningJobs()  # keyed by job id, unique across databases


def stop_job(job_id: str) -> bool:
    """Ask the job, if this process runs it, to stop at its next progress report.

    Call it after marking the job cancelled in the database; returns whether it was running here.
    """
    return _running.stop(job_id)


def recover_jobs(ws: Workspace) -> None:
    """At start: a job a stopped server left running is queued again, or failed after retries."""
    with ws.session() as session:
        for job in queries.interrupted_jobs(session):
            if job.attempts < MAX_ATTEMPTS:
                logger.warning("training job %s was interrupted; running it again", job.id)
                queries.requeue_job(session, job_id=job.id)
            else:
                reason = "The server stopped during training twice; train again."
                queries.finish_job(session, job_id=job.id, error=reason)
                if job.iteration_id:
                    queries.fail_iteration(session, iteration_id=job.iteration_id, error=reason)
    ws.jobs_changed.set()


def run_next_job(ws: Workspace, on_completed: Callable[[str, str], None] | None = None) -> bool:
    """Run one queued job, if any; returns whether one ran. ``on_completed(project_id,
    iteration_id)`` is called after a training job completed its iteration."""
    with ws.session() as session:
        job = queries.claim_job(session)
    if job is None:
        return False
    started = time.perf_counter()
    error: str | None = None
    completed = False
    try:
        with _running.track(job.id) as cancelled:
            completed = _train(ws, job, started, cancelled)
    except TrainingCancelled:
        logger.info("training job %s stopped: it was cancelled", job.id)
    except TagloopError as exc:
        error = exc.message
    except Exception as exc:  # a bug: keep the server alive, fail the iteration, log once
        logger.exception("training job %s crashed", job.id)
        error = f"internal error ({type(exc).__name__}: {exc}); see the server log"
    if error is not None:
        logger.warning("training job %s failed: %s", job.id, error)
        with ws.session() as session:
            queries.finish_job(session, job_id=job.id, error=error)
            if job.iteration_id:
                queries.fail_iteration(session, iteration_id=job.iteration_id, error=error)
    elif completed and on_completed is not None and job.iteration_id:
        on_completed(job.project_id, job.iteration_id)
    return True


class Worker:
    """Runs queued jobs in a background thread of the server process.

    ``after_training(ws, project_id, iteration_id)`` runs in the same thread after each
    training job that completed (the service uses it to score the review queue ahead of the
    first page view); its failure is logged and does not touch the iteration. ``at_start(ws)``
    runs once in the thread, as soon as no job is waiting (the service scores the review queues
    the in-memory cache lost with the last process; jobs a restart recovered go first).
    """

    def __init__(
        self,
        ws: Workspace,
        poll_seconds: float = 2.0,
        after_training: Callable[[Workspace, str, str], object] | None = None,
        at_start: Callable[[Workspace], object] | None = None,
    ) -> None:
        self.ws = ws
        self.poll_seconds = poll_seconds
        self.after_training = after_training
        self.at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tagloop-worker", daemon=True)

    def start(self) -> None:
        remove_stale_dirs(self.ws.settings.data_dir, "train-")  # a killed run's package folder
        collect_orphan_blobs(self.ws)  # a killed upload's file, written before its row
        recover_jobs(self.ws)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.ws.jobs_changed.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        at_start = self.at_start  # run once, when no job waits (recovered jobs go first)
        while not self._stop.is_set():
            self.ws.jobs_changed.clear()
            try:
                ran = run_next_job(self.ws, on_completed=self._after)
            except Exception:  # the database went away, ...: log, wait, try again
                logger.exception("the job worker failed")
                ran = False
            if ran:
                continue
            if at_start is not None:
                try:
                    at_start(self.ws)
                except Exception:  # a warm-up, not a job
                    logger.exception("the worker's start-up work failed")
                at_start = None
            else:
                self.ws.jobs_changed.wait(self.poll_seconds)

    def _after(self, project_id: str, iteration_id: str) -> None:
        if self.after_training is None or self._stop.is_set():
            return
        try:
            self.after_training(self.ws, project_id, iteration_id)
        except Exception:  # a follow-up, not the job: the iteration stays completed
            logger.exception("work after training %s failed", iteration_id)


def _train(ws: Workspace, job: JobRecord, started: float, cancelled: threading.Event) -> bool:
    """Train the job's iteration; returns whether the iteration was completed."""
    assert job.iteration_id is not None  # noqa: S101 - train jobs always carry one
    with ws.session() as session:
        iteration = queries.get_iteration(
            session, project_id=job.project_id, iteration_id=job.iteration_id
        )
        snaps = queries.snapshot(session, iteration_id=iteration.id)
        metadata = {
            img.id: img.metadata
            for img in image_queries.get_images(
                session,
                project_id=job.project_id,
                image_ids=[s.image_id for s in snaps],
                strict=False,
            )
        }
    names = {str(t["id"]): str(t["name"]) for t in iteration.tags}
    items = [
        ImageItem(
            path=ws.blobs.path(s.sha256),
            display_path=s.image_id,
            labels=tuple(names[t] for t in s.tag_ids if t in names),
            metadata=dict(metadata.get(s.image_id, {})),
        )
        for s in snaps
    ]
    grouped = any(GROUP_KEY in item.metadata for item in items)
    spec = TrainSpec(
        backbone=iteration.backbone,
        multilabel=iteration.is_multilabel,
        group_by=GROUP_KEY if grouped else None,
        mode=iteration.training_type,
        budget_seconds=iteration.budget_seconds,
    )
    last_report = [0.0]

    def progress(stage: str, done: int, total: int, detail: str = "") -> None:
        if cancelled.is_set():
            raise TrainingCancelled
        now = time.perf_counter()
        if now - last_report[0] < 0.5 and done < total:
            return
        last_report[0] = now
        with ws.session() as session:
            running = queries.set_job_progress(
                session,
                job_id=job.id,
                progress={"stage": stage, "done": done, "total": total, "detail": detail},
            )
        if not running:  # cancelled by another process, or deleted with its project
            raise TrainingCancelled

    tmp = make_scratch_dir(ws.settings.data_dir, "train-")
    try:
        run = train_and_package(
            ws.settings, items, spec=spec, out_dir=tmp / "model", progress=progress
        )
        if cancelled.is_set():  # cancelled while packaging, after the last progress report
            raise TrainingCancelled
        model_bytes = (run.model_dir / MODEL_FILE).read_bytes()
        meta = json.loads((run.model_dir / META_FILE).read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    by_name = {str(t["name"]): t for t in iteration.tags}
    ordered_tags = [by_name[label] for label in run.classifier.labels]
    proba = {
        item.display_path: row.tolist()
        for item, row in zip(run.train_set.items, run.classifier.oof_proba, strict=True)
    }
    model_sha = ws.blobs.sha_of(model_bytes)
    with ws.blobs.pin(model_sha), ws.session() as session:  # committed before the pin goes
        ws.blobs.put(model_bytes)
        completed = queries.complete_iteration(
            session,
            iteration_id=iteration.id,
            model_sha=model_sha,
            model_meta=meta,
            tags=ordered_tags,
            training_seconds=time.perf_counter() - started,
            proba=proba,
        )
        queries.finish_job(session, job_id=job.id)
    if not completed:  # cancelled or deleted at the last moment: drop the model
        collect_blobs(ws, {model_sha})
        logger.info("iteration %s ended while training; its model was dropped", iteration.id)
        return False
    logger.info("iteration %s trained in %.1f s", iteration.id, time.perf_counter() - started)
    return True
