"""``explorec data list|info|split``: what datasets exist, what one holds, and how it splits."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from explorec.cli._common import (
    add_dataset_args,
    add_preprocess_args,
    prepare_dataset,
    split_from_args,
    summary,
    write_json,
)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("data", help="list datasets, describe one, or write a split")
    dsub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p_list = dsub.add_parser("list", help="registered datasets and whether their files are present")
    p_list.add_argument("--data-dir", default=None, help="folder holding the datasets")
    p_list.set_defaults(func=cmd_list)

    p_info = dsub.add_parser("info", help="counts, density, text fields and the shipped split of a dataset")
    add_dataset_args(p_info, split=False)
    add_preprocess_args(p_info)
    p_info.add_argument("--json", default=None, help="also write the facts to this JSON file")
    p_info.set_defaults(func=cmd_info)

    p_split = dsub.add_parser("split", help="split a dataset and write the parts as CSV with external ids")
    add_dataset_args(p_split)
    add_preprocess_args(p_split)
    p_split.add_argument("--out", required=True, help="output folder (train.csv, valid.csv, test.csv)")
    p_split.set_defaults(func=cmd_split)


def cmd_list(args: argparse.Namespace) -> int:
    from explorec.data.registry import list_datasets

    rows = list_datasets(data_dir=args.data_dir)
    for row in rows:
        print(f"{row['name']:<26} {'present' if row['available'] else 'missing':<8} {row['description']}")
    present = sum(1 for row in rows if row["available"])
    summary(args, f"{len(rows)} registered datasets, {present} present")
    return 0


def describe(args: argparse.Namespace) -> dict[str, Any]:
    dataset = prepare_dataset(args)
    data, catalog = dataset.interactions, dataset.catalog
    n_cells = max(data.n_users * data.n_items, 1)
    text_fields = {
        name: int(sum(1 for v in values if str(v).strip())) for name, values in sorted(catalog.fields.items())
    }
    facts: dict[str, Any] = {
        "dataset": dataset.name,
        "source": dataset.source,
        "interactions": len(data),
        "users": data.n_users,
        "active_users": int(data.active_users().size),
        "items": data.n_items,
        "items_with_interactions": int((data.item_counts() > 0).sum()),
        "density": len(data) / n_cells,
        "has_timestamps": data.has_timestamps,
        "has_ratings": data.rating is not None,
        "median_history": float(np.median(data.user_counts()[data.user_counts() > 0])) if len(data) else 0.0,
        "text_fields_nonempty": text_fields,
        "attributes": sorted(catalog.attributes),
        "user_features": sorted(dataset.user_features),
        "shipped_split": None if dataset.split is None else dataset.split.summary(),
    }
    return facts


def cmd_info(args: argparse.Namespace) -> int:
    facts = describe(args)
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        write_json(args.json, facts)
    summary(
        args,
        f"{facts['dataset']}: {facts['interactions']} interactions, {facts['users']} users x "
        f"{facts['items']} items, density {facts['density']:.2e}"
        + (f"; facts -> {args.json}" if args.json else ""),
    )
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    import pandas as pd

    dataset = prepare_dataset(args)
    split = split_from_args(dataset, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in ("train", "valid", "test"):
        data = getattr(split, part)
        frame = pd.DataFrame(
            {
                "user_id": data.user_ids[data.user],
                "item_id": data.item_ids[data.item],
                "timestamp": data.timestamp,
                "weight": data.weight,
            }
        )
        frame.to_csv(out / f"{part}.csv", index=False)
    facts = {"dataset": dataset.name, "split": split.name, **split.summary()}
    write_json(out / "split.json", facts)
    print(" ".join(f"{k}={v}" for k, v in facts.items()))
    summary(
        args,
        f"{dataset.name} split {split.name}: {len(split.train)} train / {len(split.valid)} valid / "
        f"{len(split.test)} test interactions -> {out}/{{train,valid,test}}.csv, split.json",
    )
    return 0
