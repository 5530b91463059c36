"""``tagloop`` command line: parse, call :class:`Project`, format. Results go to stdout,
progress and logs to stderr; ``--json`` prints one JSON document. The text formats and the
progress bars are in :mod:`tagloop.shells.cli_output`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import click

from tagloop import __version__
from tagloop.config import load_settings
from tagloop.embed.backbones import DEFAULT_BACKBONE, list_backbones
from tagloop.errors import BudgetInvalid, OutputNotWritable, TagloopError
from tagloop.log import configure_logging
from tagloop.project import Project
from tagloop.serve.explain import overlay_png
from tagloop.shells.cli_output import (
    Bars,
    TqdmHandler,
    advanced_summary,
    format_check,
    format_report,
)
from tagloop.train.budget import DEFAULT_BUDGET_SECONDS, parse_budget
from tagloop.train.service import TrainSpec

logger = logging.getLogger("tagloop.cli")


def _budget(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_budget(value)
    except BudgetInvalid as exc:
        raise click.BadParameter(exc.message) from None


def _run(fn: Callable[[], int]) -> None:
    """Shell boundary: expected errors are one line on stderr and exit 1, never a traceback."""
    try:
        code = fn()
    except TagloopError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:
        logger.exception("unexpected error (a bug in tagloop; please report it)")
        sys.exit(2)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tagloop")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """tagloop: train, evaluate and serve image classifiers on your own machine."""
    level = {0: None, 1: "INFO"}.get(verbose, "DEBUG")
    try:
        settings = load_settings(log_level=level)
    except TagloopError as exc:
        raise click.ClickException(exc.message) from None
    configure_logging(settings.log_level, TqdmHandler())
    ctx.obj = {"project": Project(settings), "bars": Bars(not quiet and sys.stderr.isatty())}


def _project(ctx: click.Context) -> Project:
    return ctx.obj["project"]  # type: ignore[no-any-return]


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--test",
    "test_data",
    type=click.Path(path_type=Path),
    help="Held-out labeled data to report on (folder or CSV).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("tagloop-model"),
    show_default=True,
    help="Folder to write the model package to.",
)
@click.option(
    "--backbone",
    default=DEFAULT_BACKBONE,
    show_default=True,
    type=click.Choice([b.name for b in list_backbones()]),
    help="Pretrained feature extractor (see `tagloop backbones`).",
)
@click.option(
    "--group-by",
    help="CSV column of related images (same person, camera) kept in one cross-validation fold.",
)
@click.option("--multilabel", is_flag=True, help="Images may have several labels (`;` in CSV).")
@click.option(
    "--tune",
    is_flag=True,
    help="Choose the regularization by nested cross-validation "
    "(about 10x slower training; the default C=0.1 is rarely far off).",
)
@click.option(
    "--advanced",
    is_flag=True,
    help="Fine-tune the backbone's last stages within --budget (better models, minutes).",
)
@click.option(
    "--budget",
    callback=lambda ctx, param, value: _budget(value),
    help="Time for --advanced training, all stages included: seconds (600) or 90s, 10m, 1.5h; "
    "at most 24h. Default 10m.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def train(
    ctx: click.Context,
    data: Path,
    test_data: Path | None,
    out_dir: Path,
    backbone: str,
    group_by: str | None,
    multilabel: bool,
    tune: bool,
    advanced: bool,
    budget: float | None,
    as_json: bool,
) -> None:
    """Train a classifier on DATA: a folder with one subfolder per label, or a CSV manifest
    with columns path,label (other columns are metadata)."""
    if budget is not None and not advanced:
        raise click.UsageError("--budget is for --advanced training")

    def run() -> int:
        spec = TrainSpec(
            backbone=backbone,
            group_by=group_by,
            multilabel=multilabel,
            C=None if tune else TrainSpec.C,
            mode="advanced" if advanced else "quick",
            budget_seconds=(budget or DEFAULT_BUDGET_SECONDS) if advanced else None,
        )
        result = _project(ctx).train(
            data, test=test_data, out_dir=out_dir, spec=spec, progress=ctx.obj["bars"]
        )
        if as_json:
            click.echo(json.dumps(result.to_dict(), indent=2))
            return 0
        for item in result.skipped:
            click.echo(f"skipped {item.path}: {item.reason}", err=True)
        click.echo(
            f"trained on {result.n_images} images, {len(result.labels)} labels, "
            f"{result.backbone}, in {result.seconds:.1f} s "
            f"({result.n_embedded} embedded, the rest from cache)"
        )
        click.echo(f"skipped {len(result.skipped)} files")
        if advanced:
            click.echo(advanced_summary(result.training_type, result.advanced or {}))
        click.echo(format_report(result.evaluation, "cross-validated estimate"))
        if result.test is not None:
            click.echo(format_report(result.test, "test set"))
        click.echo(f"model written to {result.model_dir}")
        return 0

    _run(run)


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--test",
    "test_data",
    type=click.Path(path_type=Path),
    help="Held-out labeled data: also checked for leakage from DATA.",
)
@click.option(
    "--group-by",
    help="CSV column of related images (same person, camera): kept together, and a test image "
    "sharing a value with training images is leakage.",
)
@click.option(
    "--backbone",
    default=DEFAULT_BACKBONE,
    show_default=True,
    type=click.Choice([b.name for b in list_backbones()]),
    help="The feature extractor the similarity checks use.",
)
@click.option("--multilabel", is_flag=True, help="Images may have several labels (`;` in CSV).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def check(
    ctx: click.Context,
    data: Path,
    test_data: Path | None,
    group_by: str | None,
    backbone: str,
    multilabel: bool,
    as_json: bool,
) -> None:
    """Check labeled DATA (as in `train`) for what to fix before training: too few images,
    imbalance, duplicates, conflicting labels, leakage, unreadable or odd-sized files, likely
    mislabeled images, outliers, and whether more images would help. Exit status 0 when the
    check ran, whatever it found."""

    def run() -> int:
        report = _project(ctx).check(
            data,
            test=test_data,
            group_by=group_by,
            backbone=backbone,
            multilabel=multilabel,
            progress=ctx.obj["bars"],
        )
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            click.echo(format_check(report))
        return 0

    _run(run)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    help="Give a label when its probability is at least this (multiclass: the most probable "
    "label, or none below it), as the service's performance pages and routes do. Default: the "
    "model's own (multiclass: always the most probable; multilabel: the threshold chosen in "
    "training).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def evaluate(
    ctx: click.Context, model: Path, data: Path, threshold: float | None, as_json: bool
) -> None:
    """Report how MODEL does on labeled DATA (folder or CSV)."""

    def run() -> int:
        result = _project(ctx).evaluate(model, data, threshold=threshold, progress=ctx.obj["bars"])
        if as_json:
            click.echo(json.dumps(result.to_dict(), indent=2))
        else:
            for item in result.skipped:
                click.echo(f"skipped {item.path}: {item.reason}", err=True)
            click.echo(format_report(result.report, str(data)))
        return 0

    _run(run)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top", "top_k", type=click.IntRange(min=1), help="Show only the K best labels.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def predict(
    ctx: click.Context, model: Path, paths: tuple[Path, ...], top_k: int | None, as_json: bool
) -> None:
    """Classify image files with MODEL. Exit status 1 if any file could not be read.

    A photo unlike anything MODEL was trained on is marked "unknown" (JSON: "unknown": true,
    with its "novelty" score); its probabilities are then only a guess among the labels.
    """

    def run() -> int:
        results = _project(ctx).predict(model, list(paths), top_k=top_k, progress=ctx.obj["bars"])
        if as_json:
            click.echo(json.dumps([r.to_dict() for r in results], indent=2))
        else:
            for r in results:
                if r.error is not None:
                    click.echo(f"{r.path}: error: {r.error}")
                else:
                    best = ", ".join(f"{p.label} {p.probability:.3f}" for p in r.predictions)
                    flag = f"unknown (novelty {r.novelty:.3f}); " if r.unknown else ""
                    click.echo(f"{r.path}: {flag}{best}")
        return 1 if any(r.error is not None for r in results) else 0

    _run(run)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--tag", "label", help="The label to explain. Default: the most probable one.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("heat.png"),
    show_default=True,
    help="Where to write the overlay (PNG).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def explain(
    ctx: click.Context, model: Path, image: Path, label: str | None, out: Path, as_json: bool
) -> None:
    """Show where MODEL looks in IMAGE: a heat-map of what raises a label's score, drawn
    over the image the model saw (its centre crop). Hot cells on a background, a watermark or
    a corner mark mean the model may have learned a shortcut (see `tagloop check`)."""

    def run() -> int:
        found = _project(ctx).explain(model, image, label=label)
        try:
            out.write_bytes(overlay_png(found))
        except OSError as exc:
            raise OutputNotWritable(f"cannot write {out}: {exc.strerror}") from None
        if as_json:
            click.echo(json.dumps({"image": str(image), "out": str(out), **found.to_dict()}))
        else:
            x, y = found.peak
            click.echo(
                f"{image}: {found.label} {found.probability:.3f}; hottest at "
                f"{100 * x:.0f}% across, {100 * y:.0f}% down; wrote {out}"
            )
        return 0

    _run(run)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def backbones(as_json: bool) -> None:
    """List the pretrained backbones and their speed/accuracy trade-offs."""
    specs = list_backbones()
    if as_json:
        click.echo(
            json.dumps([{**s.to_dict(), "description": s.description} for s in specs], indent=2)
        )
        return
    for spec in specs:
        mark = " (default)" if spec.name == DEFAULT_BACKBONE else ""
        click.echo(f"{spec.name}{mark}: {spec.description}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Database, images, models and keys (default: TAGLOOP_DATA_DIR or ~/.local/share/tagloop).",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, data_dir: Path | None) -> None:
    """Run the HTTP service: native API (/api/v1, docs at /docs) and Custom Vision routes."""

    def run() -> int:
        import uvicorn

        from tagloop.shells.server import create_app
        from tagloop.workspace.context import load_server_keys

        settings = _project(ctx).settings  # built once, for every command
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir})
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = load_server_keys(settings)
        endpoint = f"http://{host}:{port}"
        click.echo(f"tagloop {__version__} serving {settings.data_dir} at {endpoint}", err=True)
        click.echo(f"  API docs: {endpoint}/docs   health: {endpoint}/health", err=True)
        if keys.generated:
            click.echo(
                "  New keys (kept in the data dir, shown once):\n"
                f"    Training-Key:   {keys.training}\n    Prediction-Key: {keys.prediction}",
                err=True,
            )
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=5,
        )
        return 0

    _run(run)


def main() -> None:
    cli(prog_name="tagloop")
