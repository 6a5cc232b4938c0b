"""`ariadne index build|info|add|remove|calibrate`: build, inspect and change routing indices.

Heavy imports (numpy, sentence-transformers) happen inside the commands so `ariadne --help` is fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ariadne_integrations.cli._app import clean_errors, index_app, show
from ariadne_integrations.constants import ADAPTER_INPUTS_FILE, INDEX_META_FILE


def _read_adapter_dir(spec: str) -> tuple[str, Path, list[str]]:
    """``DIR`` or ``NAME=DIR`` -> (name, folder, inputs) from the folder's task and inputs files.

    The files are :data:`~ariadne_integrations.constants.ADAPTER_TASK_FILE` and
    :data:`~ariadne_integrations.constants.ADAPTER_INPUTS_FILE`, as written by ``ariadne train``.
    """
    from ariadne_integrations.routing.data import read_adapter_dir

    name: str | None = None
    if "=" in spec and not _exists(spec):
        name, _, spec = spec.partition("=")
        name = name.strip() or None
    return read_adapter_dir(spec, name)


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):  # a NUL or an unencodable character: no such file
        return False


def _collect_examples(
    data: list[Path], adapters: list[str], text_field: str, label_field: str
) -> tuple[dict[str, list[str]], dict[str, str]]:
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
@clean_errors
def index_build(
    out: Path = typer.Option(..., "--out", "-o", help="Index folder to write (a new snapshot, switched to atomically)."),
    overwrite: bool = typer.Option(
        False, "--overwrite",
        help="Write into a non-empty folder that is not a routing index yet (its other files are kept)."),
    data: List[Path] = typer.Option([], "--data", "-d", help="JSONL training inputs, one line per example (repeatable)."),
    adapter: List[str] = typer.Option(
        [], "--adapter", "-a", help=f"Adapter folder (DIR or NAME=DIR) with {ADAPTER_INPUTS_FILE} (repeatable)."),
    text_field: str = typer.Option("input", help="JSON field holding the text."),
    label_field: str = typer.Option("task", help="JSON field holding the adapter name."),
    embedder: Optional[str] = typer.Option(None, help="sentence-transformers model path or id (default: offline all-MiniLM-L6-v2)."),
    strategy: str = typer.Option("kmeans", help="Centroid strategy: kmeans (default), paper, mean."),
    centroids: Optional[int] = typer.Option(None, help="Centroids per adapter for kmeans (default: from the data)."),
    threshold: Optional[float] = typer.Option(None, help="Abstain when the best score is below this."),
    min_margin: Optional[float] = typer.Option(None, help="Abstain when the lead over the runner-up is below this."),
    calibrate_oos: Optional[Path] = typer.Option(
        None, "--calibrate-oos",
        help="JSONL of out-of-scope queries (text field only): calibrate the abstention threshold in the same step, "
             "on a held-out share of the examples plus these."),
    holdout: float = typer.Option(0.1, help="Share of each adapter's examples held out for --calibrate-oos."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Build a routing index from labelled JSONL data and/or adapter folders.

    A folder that exists, is not empty and is not a routing index is refused unless --overwrite is given.
    """
    from ariadne_integrations.errors import InvalidInputError
    from ariadne_integrations.routing.data import read_jsonl
    from ariadne_integrations.routing.persistence import check_index_target
    from ariadne_integrations.routing.router import AriadneRouter

    check_index_target(out, overwrite=overwrite)  # before minutes of embedding, not after
    if calibrate_oos is not None and threshold is not None:
        raise InvalidInputError("give --threshold or --calibrate-oos, not both: calibration chooses the threshold")
    examples, paths = _collect_examples(list(data), list(adapter), text_field, label_field)
    oos = read_jsonl(calibrate_oos, text_field=text_field, label_field=None) if calibrate_oos else None
    router = AriadneRouter.from_examples(
        examples, embedder=embedder, strategy=strategy, centroids=centroids, threshold=threshold,
        min_margin=min_margin, adapter_paths=paths, show_progress=progress,
        calibrate_oos=oos, holdout=holdout,
    )
    router.save(out, overwrite=overwrite)
    total = sum(len(v) for v in examples.values())
    typer.echo(f"built index {show(out)}: {len(router.adapters)} adapters from {total} examples ({router.strategy.name}, "
               f"{sum(router.centroids(n).shape[0] for n in router.adapters)} centroids)")
    rep = router.calibration_report
    if rep is not None:
        typer.echo(f"calibrated threshold={rep['threshold']:.4f} on {rep['n_heldout']} held-out examples + {rep['n_oos']} "
                   f"out-of-scope texts: in-scope accuracy {rep['in_scope_accuracy']:.3f}, "
                   f"out-of-scope rejection {rep['oos_rejection']:.3f}")


@index_app.command("info")
@clean_errors
def index_info(
    index: Path = typer.Argument(..., help="Index folder."),
    as_json: bool = typer.Option(False, "--json", help=f"Print {INDEX_META_FILE}'s content as JSON."),
) -> None:
    """Describe an index (adapters, example counts, embedder, strategy, thresholds) without loading models."""
    from ariadne_integrations.routing.persistence import load_index

    meta = load_index(index).meta  # one consistent read of index.json and its centroids, both checked
    if as_json:
        typer.echo(json.dumps(meta, indent=2))
        return
    emb, strat, th = meta["embedder"], meta["strategy"], meta["thresholds"]
    typer.echo(f"index {show(index)} (format v{meta['version']})")
    typer.echo(f"  embedder: {show(emb['name'])} ({emb['dimension']}-d, fingerprint {show(emb['fingerprint'])})")
    typer.echo(f"  strategy: {show(strat['name'])} {json.dumps({k: v for k, v in strat.items() if k != 'name'})}")
    typer.echo(f"  thresholds: score >= {th.get('threshold')}, margin >= {th.get('min_margin')}")
    typer.echo(f"  adapters ({len(meta['adapters'])}):")
    for a in meta["adapters"]:
        extra = f"  [{show(a['adapter_path'])}]" if a.get("adapter_path") else ""
        typer.echo(f"    {a['name']}: {a['n_examples']} examples, {a['n_centroids']} centroids{extra}")


@index_app.command("add")
@clean_errors
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
    typer.echo(f"added {', '.join(examples)}; index {show(index)} now has {len(router.adapters)} adapters")


@index_app.command("remove")
@clean_errors
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
    typer.echo(f"removed {', '.join(map(show, names))}; index {show(index)} now has {len(router.adapters)} adapters")


@index_app.command("calibrate")
@clean_errors
def index_calibrate(
    index: Path = typer.Argument(..., help="Index folder to update."),
    data: Path = typer.Option(
        ..., "--data", "-d", help="Held-out labelled JSONL (in scope; labels not in the index count as out of scope)."),
    oos: Optional[Path] = typer.Option(None, "--oos", help="JSONL of out-of-scope queries (text field only)."),
    text_field: str = typer.Option("input"),
    label_field: str = typer.Option("task"),
    by: str = typer.Option("score", help="Threshold the best score ('score') or the margin over the runner-up ('margin')."),
    method: str = typer.Option("global", help="'global': one threshold; 'per_adapter': one score threshold per adapter."),
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
    res = router.calibrate([t for t, _ in rows], [lab for _, lab in rows], oos_texts,
                           by=by, method=method, target_oos_rejection=target_oos_rejection,
                           target_in_scope_accuracy=target_in_scope_accuracy)
    router.save(index)
    summary = {k: v for k, v in res.items() if k != "curve"}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        own = res.get("adapter_thresholds")
        per = " adapter_thresholds=" + ",".join(f"{show(k)}:{v:.4f}" for k, v in own.items()) if own else ""
        typer.echo(f"threshold={res['threshold']} min_margin={res['min_margin']}{per} in-scope accuracy={res['in_scope_accuracy']:.3f} "
                   f"oos rejection={res['oos_rejection']} ({res['objective']}); saved to {show(index)}")
