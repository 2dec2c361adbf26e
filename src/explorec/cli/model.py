"""``explorec model info|versions|use``: what a saved model is, how it was made, whether its files are
intact, which versions a folder keeps, and switching between them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from explorec.cli._common import summary


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("model", help="inspect saved models")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info",
        help="describe a model folder: version, model and parameters, data, split, metrics, files",
        description="Verify a saved model (every file against its manifest) and describe it.",
    )
    info.add_argument("dir", help="a model folder written by `explorec train` (or one of its versions)")
    info.add_argument("--json", action="store_true", help="print the description as JSON")
    info.set_defaults(func=cmd_info)
    versions = actions.add_parser(
        "versions", help="list the complete versions kept in a model folder, the current one marked"
    )
    versions.add_argument("dir", help="a model folder written by `explorec train`")
    versions.set_defaults(func=cmd_versions)
    use = actions.add_parser(
        "use", help="make a kept version current again (pin or roll back), atomically, after verifying it"
    )
    use.add_argument("dir", help="a model folder written by `explorec train`")
    use.add_argument("version", help="a version name listed by `explorec model versions`")
    use.set_defaults(func=cmd_use)


def describe(path: str) -> dict[str, Any]:
    """The description ``explorec model info`` prints, as a dict (loads and verifies the model)."""
    from explorec.models.saved import load_saved
    from explorec.persist import list_versions

    saved = load_saved(path)
    model = saved.model
    meta = saved.metadata
    files = saved.manifest["files"]
    root = saved.version.parent
    return {
        "version": saved.version.name,
        "path": str(saved.version),
        "versions_kept": [p.name for p in list_versions(root)] if (root / "CURRENT").is_file() else [],
        "digest": saved.manifest["digest"],
        "created": saved.manifest.get("created"),
        "model": model.name,
        "params": model.get_params(),
        "n_users": model.n_users_,
        "n_items": model.n_items_,
        "n_train_interactions": len(model.train_),
        "dataset": meta.get("dataset"),
        "split": meta.get("split"),
        "split_params": meta.get("split_params"),
        "seed": meta.get("seed"),
        "min_rating": meta.get("min_rating"),
        "k_core": meta.get("k_core"),
        "valid_metrics": meta.get("valid_metrics"),
        "fit_seconds": meta.get("fit_seconds"),
        "catalog": saved.catalog is not None,
        "titles": saved.titles is not None,
        "seen_interactions": None if saved.seen is None else len(saved.seen),
        "item_vectors": None if saved.item_vectors is None else list(saved.item_vectors.shape),
        "item_vector_encoder": meta.get("item_vectors"),
        "files": {name: entry["bytes"] for name, entry in sorted(files.items())},
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = describe(args.dir)
    done = (
        f"{info['path']} verified ({len(info['files'])} files match the manifest): {info['model']}, "
        f"{info['n_users']} users x {info['n_items']} items"
    )
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        summary(args, done)
        return 0
    print(f"{info['path']}  (verified: {len(info['files'])} files match the manifest)")
    print(f"  version     {info['version']}  digest {info['digest'][:16]}  created {info['created']}")
    params = ", ".join(f"{k}={v!r}" for k, v in info["params"].items())
    print(f"  model       {info['model']}({params})")
    print(
        f"  vocabulary  {info['n_users']} users x {info['n_items']} items, "
        f"{info['n_train_interactions']} training interactions"
    )
    if info["dataset"] is not None:
        prep = f"min_rating={info['min_rating']}, k_core={info['k_core']}"
        print(
            f"  data        {info['dataset']}, split {info['split']} {info['split_params'] or ''} "
            f"seed {info['seed']}, {prep}"
        )
    if info["valid_metrics"]:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(info["valid_metrics"].items()))
        print(f"  validation  {metrics}")
    vectors = info["item_vectors"]
    print(
        f"  serving     titles: {'yes' if info['titles'] else 'no'}, known interactions: "
        f"{info['seen_interactions'] if info['seen_interactions'] is not None else 'no'}, item vectors: "
        f"{'x'.join(map(str, vectors)) + ' (' + str(info['item_vector_encoder']) + ')' if vectors else 'no'}"
    )
    total = sum(info["files"].values())
    print(f"  files       {len(info['files'])} files, {total / 1e6:.1f} MB")
    summary(args, done)
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from explorec.persist import list_versions, read_json_object, resolve_version

    root = Path(args.dir)
    current = resolve_version(root)
    kept = list_versions(root)
    for version in kept:
        run = read_json_object(version / "run.json") if (version / "run.json").is_file() else {}
        metrics = run.get("valid_metrics") or {}
        ndcg = f"ndcg@10={metrics['ndcg@10']:.4f}" if "ndcg@10" in metrics else ""
        mark = "*" if version == current else " "
        print(f"{mark} {version.name}  {run.get('model', '?')}  {run.get('dataset', '')}  {ndcg}".rstrip())
    summary(args, f"{len(kept)} complete version(s) in {root}, current {current.name}")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from explorec.persist import set_current

    folder = set_current(args.dir, args.version)
    print(f"{args.dir}: current version is now {folder.name}")
    summary(args, f"{args.dir} now serves {folder.name} (verified)")
    return 0
