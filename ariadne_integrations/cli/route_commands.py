"""`ariadne route` and `ariadne eval`: use a routing index on queries and on labelled data.

Heavy imports (numpy, sentence-transformers, matplotlib) happen inside the commands so `ariadne --help` is fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ariadne_integrations.cli._app import app, clean_errors, show


@app.command("route")
@clean_errors
def route(
    queries: List[str] = typer.Argument(..., help="Queries to route."),
    index: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per query, one per line."),
    embedder: Optional[str] = typer.Option(None, help="Embedder to use instead of the stored one (must match)."),
) -> None:
    """Route queries with an index: the adapter chosen for each, its score and margin."""
    from ariadne_integrations.routing.embedders import validate_texts
    from ariadne_integrations.routing.router import AriadneRouter

    items = validate_texts(list(queries), what="queries")  # before loading any model
    router = AriadneRouter.load(index, embedder=embedder)
    decisions = router.route_batch(items)
    for q, d in zip(queries, decisions):
        if as_json:
            typer.echo(json.dumps({"query": q, **d.to_dict()}))
        else:
            chosen = d.adapter if not d.abstained else f"(abstain; best {d.best})"
            # one line per query: adapter names hold no control characters, and the query is escaped
            typer.echo(f"{chosen}\tscore={d.score:.3f}\tmargin={d.margin:.3f}\t{show(q)}")


@app.command("eval")
@clean_errors
def evaluate(
    index: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    data: Path = typer.Option(..., "--data", "-d", help="Labelled JSONL test data."),
    text_field: str = typer.Option("input"),
    label_field: str = typer.Option("task"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[str] = typer.Option(
        None, "--plot",
        help="Write the confusion matrix as an image: a file (.png, .pdf, .svg, ...; no suffix: .png) or a folder "
             "(ending in / or existing: FOLDER/confusion.png). The path written is printed."),
    threshold: Optional[float] = typer.Option(None, help="Override the stored score threshold."),
    min_margin: Optional[float] = typer.Option(None, help="Override the stored margin threshold."),
    calibrate_data: Optional[Path] = typer.Option(
        None, "--calibrate-data", help="Held-out in-scope JSONL to calibrate the threshold on first."),
    calibrate_oos: Optional[Path] = typer.Option(
        None, "--calibrate-oos", help="Out-of-scope JSONL for calibration (with --calibrate-data)."),
) -> None:
    """Selection accuracy, per-task accuracy, confusion and abstention of an index on labelled data."""
    from ariadne_integrations.errors import InvalidInputError
    from ariadne_integrations.routing.data import read_jsonl
    from ariadne_integrations.routing.evaluate import evaluate_router
    from ariadne_integrations.routing.plots import plot_confusion
    from ariadne_integrations.routing.router import AriadneRouter

    plot_path = _plot_target(plot) if plot is not None else None  # before the slow work
    router = AriadneRouter.load(index)
    rows = read_jsonl(data, text_field=text_field, label_field=label_field)
    calibration = None
    if calibrate_oos is not None and calibrate_data is None:
        raise InvalidInputError("--calibrate-oos needs --calibrate-data (held-out in-scope examples) too")
    if calibrate_data is not None:
        crows = read_jsonl(calibrate_data, text_field=text_field, label_field=label_field)
        oos_texts = read_jsonl(calibrate_oos, text_field=text_field, label_field=None) if calibrate_oos else None
        calibration = router.calibrate([t for t, _ in crows], [lab for _, lab in crows], oos_texts)
        calibration = {k: v for k, v in calibration.items() if k != "curve"}
    if threshold is not None or min_margin is not None:
        router.set_thresholds(threshold if threshold is not None else router.threshold,
                              min_margin if min_margin is not None else router.min_margin)
    report = evaluate_router(router, [t for t, _ in rows], [lab for _, lab in rows])
    if plot_path is not None:
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(report, plot_path)
    out = report.to_dict()
    if calibration is not None:
        out["calibration"] = calibration
    if plot_path is not None:
        out["plot"] = str(plot_path)
    if as_json:
        typer.echo(json.dumps(out))
        if plot_path is not None:
            typer.echo(f"confusion matrix written to {show(plot_path)}", err=True)
        return
    sa = report.selection_accuracy
    typer.echo(f"selection accuracy: {sa:.4f} on {report.n} in-scope rows" if sa is not None else "no in-scope rows")
    for name, st in report.per_task.items():
        typer.echo(f"  {name}: {st['accuracy']:.4f} (n={st['n']})")
    if sa is not None and report.in_scope_accuracy is not None and (report.threshold is not None or report.min_margin is not None):
        cost = 100 * (sa - report.in_scope_accuracy)
        typer.echo(f"abstention (threshold={report.threshold}, min_margin={report.min_margin}) costs {cost:.2f} points "
                   f"in scope: accuracy {sa:.4f} without it -> {report.in_scope_accuracy:.4f} with it "
                   f"(abstained on {report.abstained_in_scope:.4f} of in-scope rows)")
    if report.abstain:
        a = report.abstain
        typer.echo(f"out of scope ({', '.join(a['labels'])}): abstained on {a['oos_abstained']:.4f} of {a['n']}; "
                   f"in-scope accuracy at this setting {a['in_scope_accuracy']:.4f}")
    if plot_path is not None:
        typer.echo(f"confusion matrix written to {show(plot_path)}", err=True)


_PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "jpg", "jpeg", "tif", "tiff", "eps", "ps", "webp")


def _plot_target(plot: str) -> Path:
    """The file ``--plot`` means: FOLDER/confusion.png for a folder, NAME.png for a name without a suffix.

    Why: matplotlib appends ".png" to a name without a suffix and fails on a folder, so the path the user
    gave is not always the one written; this decides the real path first, and the command prints it.
    """
    from ariadne_integrations.errors import InvalidInputError

    if not plot.strip():
        raise InvalidInputError("--plot is empty; give a file or folder path")
    path = Path(plot).expanduser()
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):
        raise InvalidInputError(f"--plot {show(plot)} is not a usable path") from None
    if is_dir or plot.endswith(("/", "\\")):
        return path / "confusion.png"
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        return path.with_name(path.name + ".png")
    if suffix not in _PLOT_FORMATS:
        raise InvalidInputError(f"--plot {show(plot)}: unknown image format {suffix!r}; use one of {', '.join(_PLOT_FORMATS)}")
    return path
