"""`ariadne index build|info|add|remove|calibrate`, `ariadne route`, `ariadne eval` (the routing engine's CLI).

Heavy imports (numpy, sentence-transformers) happen inside the commands so `ariadne --help` is fast.
Every expected failure prints one line to stderr and exits with code 2, without a traceback.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, TypeVar

import typer

from ariadne_integrations.cli import app
from ariadne_integrations.errors import AriadneError

index_app = typer.Typer(no_args_is_help=True, help="Build, inspect and change routing indices.")
app.add_typer(index_app, name="index")

F = TypeVar("F", bound=Callable[..., Any])

def _fail(message: str) -> "typer.Exit":
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _clean_errors(fn: F) -> F:
    """Turn the package's typed errors (and missing files) into one stderr line + exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (AriadneError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise _fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _read_adapter_dir(spec: str) -> tuple[str, Path, list[str]]:
    """``DIR`` or ``NAME=DIR`` -> (name, folder, inputs) from the folder's ariadne_task.json / ariadne_inputs.jsonl."""
    from ariadne_integrations.routing.data import read_adapter_dir

    name: str | None = None
    if "=" in spec and not Path(spec).exists():
        name, _, spec = spec.partition("=")
        name = name.strip() or None
    return read_adapter_dir(spec, name)


def _collect_examples(data: list[Path], adapters: list[str], text_field: str, label_field: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    from ariadne_integrations.errors import InvalidInputError
    from ariadne_integrations.routing.data import read_examples

    examples: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    if data:
        for label, texts in read_examples(data, text_field=text_field, label_field=label_field).items():
            examples.setdefault(label, []).extend(texts)
    for spec in adapters:
        name, folder, texts = _read_adapter_dir(spec)
        if name in paths:
            raise InvalidInputError(f"two --adapter folders are named {name!r}; use --adapter NAME=DIR to rename one")
        examples.setdefault(name, []).extend(texts)
        paths[name] = str(folder)
    if not examples:
        raise InvalidInputError("nothing to index: give --data FILE and/or --adapter DIR")
    return examples, paths


@index_app.command("build")
@_clean_errors
def index_build(
    out: Path = typer.Option(..., "--out", "-o", help="Index folder to write (replaced atomically)."),
    data: List[Path] = typer.Option([], "--data", "-d", help="JSONL training inputs, one line per example (repeatable)."),
    adapter: List[str] = typer.Option([], "--adapter", "-a", help="Adapter folder (DIR or NAME=DIR) with ariadne_inputs.jsonl (repeatable)."),
    text_field: str = typer.Option("input", help="JSON field holding the text."),
    label_field: str = typer.Option("task", help="JSON field holding the adapter name."),
    embedder: Optional[str] = typer.Option(None, help="sentence-transformers model path or id (default: offline all-MiniLM-L6-v2)."),
    strategy: str = typer.Option("kmeans", help="Centroid strategy: kmeans (default), paper, mean."),
    centroids: Optional[int] = typer.Option(None, help="Centroids per adapter for kmeans (default: from the data)."),
    threshold: Optional[float] = typer.Option(None, help="Abstain when the best score is below this."),
    min_margin: Optional[float] = typer.Option(None, help="Abstain when the lead over the runner-up is below this."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Build a routing index from labelled JSONL data and/or adapter folders."""
    from ariadne_integrations.routing.router import AriadneRouter

    examples, paths = _collect_examples(list(data), list(adapter), text_field, label_field)
    router = AriadneRouter.from_examples(
        examples, embedder=embedder, strategy=strategy, centroids=centroids, threshold=threshold,
        min_margin=min_margin, adapter_paths=paths, show_progress=progress,
    )
    router.save(out)
    total = sum(len(v) for v in examples.values())
    typer.echo(f"built index {out}: {len(router.adapters)} adapters from {total} examples ({router.strategy.name}, "
               f"{sum(router.centroids(n).shape[0] for n in router.adapters)} centroids)")


@index_app.command("info")
@_clean_errors
def index_info(
    index: Path = typer.Argument(..., help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help="Print index.json's content as JSON."),
) -> None:
    """Describe an index (adapters, example counts, embedder, strategy, thresholds) without loading models."""
    from ariadne_integrations.routing.persistence import load_index, read_index_meta

    meta = read_index_meta(index)
    load_index(index)  # validate the centroid file too
    if as_json:
        typer.echo(json.dumps(meta, indent=2))
        return
    emb, strat, th = meta["embedder"], meta["strategy"], meta["thresholds"]
    typer.echo(f"index {index} (format v{meta['version']})")
    typer.echo(f"  embedder: {emb['name']} ({emb['dimension']}-d, fingerprint {emb['fingerprint']})")
    typer.echo(f"  strategy: {strat['name']} {json.dumps({k: v for k, v in strat.items() if k != 'name'})}")
    typer.echo(f"  thresholds: score >= {th.get('threshold')}, margin >= {th.get('min_margin')}")
    typer.echo(f"  adapters ({len(meta['adapters'])}):")
    for a in meta["adapters"]:
        extra = f"  [{a['adapter_path']}]" if a.get("adapter_path") else ""
        typer.echo(f"    {a['name']}: {a['n_examples']} examples, {a['n_centroids']} centroids{extra}")


@index_app.command("add")
@_clean_errors
def index_add(
    index: Path = typer.Argument(..., help="Index folder to update (rewritten atomically)."),
    data: List[Path] = typer.Option([], "--data", "-d", help="JSONL inputs labelled with the new adapters' names."),
    adapter: List[str] = typer.Option([], "--adapter", "-a", help="Adapter folder (DIR or NAME=DIR)."),
    text_field: str = typer.Option("input"),
    label_field: str = typer.Option("task"),
    replace: bool = typer.Option(False, "--replace", help="Rebuild adapters that already exist instead of failing."),
) -> None:
    """Add adapters to an existing index; the other adapters' centroids stay as they are."""
    from ariadne_integrations.errors import DuplicateAdapterError
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter.load(index)
    examples, paths = _collect_examples(list(data), list(adapter), text_field, label_field)
    clash = [n for n in examples if n in router.adapters]
    if clash and not replace:
        raise DuplicateAdapterError(f"adapters already in the index: {clash}; pass --replace to rebuild them")
    for name, texts in examples.items():
        router.add_adapter(name, texts, adapter_path=paths.get(name), replace=replace)
    router.save(index)
    typer.echo(f"added {', '.join(examples)}; index {index} now has {len(router.adapters)} adapters")


@index_app.command("remove")
@_clean_errors
def index_remove(
    index: Path = typer.Argument(..., help="Index folder to update."),
    names: List[str] = typer.Argument(..., help="Adapter names to remove."),
) -> None:
    """Remove adapters from an index."""
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter.load(index)
    for name in names:
        router.remove_adapter(name)
    router.save(index)
    typer.echo(f"removed {', '.join(names)}; index {index} now has {len(router.adapters)} adapters")


@index_app.command("calibrate")
@_clean_errors
def index_calibrate(
    index: Path = typer.Argument(..., help="Index folder to update."),
    data: Path = typer.Option(..., "--data", "-d", help="Held-out labelled JSONL (in scope; labels not in the index count as out of scope)."),
    oos: Optional[Path] = typer.Option(None, "--oos", help="JSONL of out-of-scope queries (text field only)."),
    text_field: str = typer.Option("input"),
    label_field: str = typer.Option("task"),
    by: str = typer.Option("score", help="Threshold the best score ('score') or the margin over the runner-up ('margin')."),
    target_oos_rejection: Optional[float] = typer.Option(None, help="Lowest threshold rejecting at least this share of OOS."),
    target_in_scope_accuracy: Optional[float] = typer.Option(None, help="Highest threshold keeping at least this in-scope accuracy."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Choose and store an abstention threshold from held-out data (+ optional out-of-scope queries)."""
    from ariadne_integrations.routing.data import read_jsonl
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter.load(index)
    rows = read_jsonl(data, text_field=text_field, label_field=label_field)
    oos_texts = read_jsonl(oos, text_field=text_field, label_field=None) if oos else None
    res = router.calibrate([t for t, _ in rows], [lab for _, lab in rows], oos_texts,  # type: ignore[misc]
                           by=by, target_oos_rejection=target_oos_rejection, target_in_scope_accuracy=target_in_scope_accuracy)
    router.save(index)
    summary = {k: v for k, v in res.items() if k != "curve"}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"threshold={res['threshold']} min_margin={res['min_margin']} in-scope accuracy={res['in_scope_accuracy']:.3f} "
                   f"oos rejection={res['oos_rejection']} ({res['objective']}); saved to {index}")


@app.command("route")
@_clean_errors
def route(
    queries: List[str] = typer.Argument(..., help="Queries to route."),
    index: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per query, one per line."),
    embedder: Optional[str] = typer.Option(None, help="Embedder to use instead of the stored one (must match)."),
) -> None:
    """Route queries with an index: the adapter chosen for each, its score and margin."""
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter.load(index, embedder=embedder)
    decisions = router.route_batch(list(queries))
    for q, d in zip(queries, decisions):
        if as_json:
            typer.echo(json.dumps({"query": q, **d.to_dict()}))
        else:
            chosen = d.adapter if not d.abstained else f"(abstain; best {d.best})"
            typer.echo(f"{chosen}\tscore={d.score:.3f}\tmargin={d.margin:.3f}\t{q}")


@app.command("eval")
@_clean_errors
def evaluate(
    index: Path = typer.Option(..., "--index", "-i", help="Index folder."),
    data: Path = typer.Option(..., "--data", "-d", help="Labelled JSONL test data."),
    text_field: str = typer.Option("input"),
    label_field: str = typer.Option("task"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the confusion matrix as an image (PNG)."),
    threshold: Optional[float] = typer.Option(None, help="Override the stored score threshold."),
    min_margin: Optional[float] = typer.Option(None, help="Override the stored margin threshold."),
    calibrate_data: Optional[Path] = typer.Option(None, "--calibrate-data", help="Held-out in-scope JSONL to calibrate the threshold on first."),
    calibrate_oos: Optional[Path] = typer.Option(None, "--calibrate-oos", help="Out-of-scope JSONL for calibration (with --calibrate-data)."),
) -> None:
    """Selection accuracy, per-task accuracy, confusion and abstention of an index on labelled data."""
    from ariadne_integrations.errors import InvalidInputError
    from ariadne_integrations.routing.data import read_jsonl
    from ariadne_integrations.routing.evaluate import evaluate_router
    from ariadne_integrations.routing.plots import plot_confusion
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter.load(index)
    rows = read_jsonl(data, text_field=text_field, label_field=label_field)
    calibration = None
    if calibrate_oos is not None and calibrate_data is None:
        raise InvalidInputError("--calibrate-oos needs --calibrate-data (held-out in-scope examples) too")
    if calibrate_data is not None:
        crows = read_jsonl(calibrate_data, text_field=text_field, label_field=label_field)
        oos_texts = read_jsonl(calibrate_oos, text_field=text_field, label_field=None) if calibrate_oos else None
        calibration = router.calibrate([t for t, _ in crows], [lab for _, lab in crows], oos_texts)  # type: ignore[misc]
        calibration = {k: v for k, v in calibration.items() if k != "curve"}
    if threshold is not None or min_margin is not None:
        router.set_thresholds(threshold if threshold is not None else router.threshold,
                              min_margin if min_margin is not None else router.min_margin)
    report = evaluate_router(router, [t for t, _ in rows], [lab for _, lab in rows])  # type: ignore[misc]
    if plot is not None:
        plot_confusion(report, plot)
    out = report.to_dict()
    if calibration is not None:
        out["calibration"] = calibration
    if as_json:
        typer.echo(json.dumps(out))
        return
    sa = report.selection_accuracy
    typer.echo(f"selection accuracy: {sa:.4f} on {report.n} in-scope rows" if sa is not None else "no in-scope rows")
    for name, st in report.per_task.items():
        typer.echo(f"  {name}: {st['accuracy']:.4f} (n={st['n']})")
    if report.abstain:
        a = report.abstain
        typer.echo(f"out of scope ({', '.join(a['labels'])}): abstained on {a['oos_abstained']:.4f} of {a['n']}; "
                   f"in-scope accuracy at this setting {a['in_scope_accuracy']:.4f}")
    if plot is not None:
        typer.echo(f"confusion matrix written to {plot}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
