"""``explorec recommend``: top-k items from a saved model, external ids in and out, no dataset needed.

Users come from ``--users`` (comma-separated ids, or ``all``), ``--users-file`` (one id per line) or
``--items`` (a new user described by the items they interacted with: the cold-start case). The saved
model carries its vocabularies, item titles and every interaction known when it was trained, so the
items a user has consumed are masked (``--exclude-seen all``, the default), not only those of the
model's training part.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.cli._common import summary, write_json
from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

EXCLUDE_SEEN = ("all", "train", "none")
OUTPUT_FORMATS = (".csv", ".parquet", ".json")
NEW_USER = "(new user)"
_BATCH = 512


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "recommend",
        help="recommend items to users from a saved model (external ids in and out)",
        description="Recommend from a model saved by `explorec train`; the raw dataset is not needed. "
        "Give exactly one of --users, --users-file or --items.",
    )
    parser.add_argument("--model-dir", required=True, help="a model folder written by `explorec train`")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", help="comma-separated external user ids, or 'all' for every known user")
    who.add_argument("--users-file", help="file with one external user id per line ('#' starts a comment)")
    who.add_argument(
        "--items",
        help="comma-separated item ids a new user interacted with, oldest first: recommends for that "
        "user without refitting (cold start)",
    )
    parser.add_argument("--k", type=int, default=10, help="slate length (default 10)")
    parser.add_argument(
        "--data-dir", default=None, help="datasets folder, for titles when the saved model has no catalogue"
    )
    parser.add_argument("--rerank", default=None, help="re-rankers, e.g. mmr:0.3 or dpp:0.5,calibration:0.3")
    parser.add_argument(
        "--policy",
        default=None,
        help="exploration policy, e.g. eps-greedy:0.1, softmax:0.5, ucb:1.0, ts:1.0, budget:0.2, "
        "linucb:1.0, lints:1.0, linucb-hybrid:1.0 (features from item vectors), uncertainty:1.0 (torch "
        "models) (default: greedy top-k)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the exploration policy")
    parser.add_argument("--candidates", type=int, default=100, help="candidate pool per user (default 100)")
    parser.add_argument(
        "--exclude-seen",
        choices=EXCLUDE_SEEN,
        default="all",
        help="mask what the user has consumed: all (every interaction known when the model was saved, "
        "low-rated and held-out ones included; default), train (only the model's training part), none",
    )
    parser.add_argument(
        "--item-vectors",
        choices=("minilm", "hashing"),
        default=None,
        help="encoder for --rerank/--policy item vectors when the model saved none (default: the one "
        "recorded with the model, else minilm)",
    )
    parser.add_argument(
        "--quantize",
        choices=("none", "int8"),
        default="none",
        help="int8: score with the neural model's Linear layers quantised to int8 (dynamic, CPU); "
        "default none",
    )
    parser.add_argument(
        "--output", default=None, help="write the recommendations to FILE (.csv, .parquet or .json)"
    )
    parser.add_argument("--json", default=None, help="write the slates to this JSON file (as before)")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="explain every item: the history items that drove it (the model's item-item weights for "
        "itemknn/ease, its attention for sasrec/lm-adapter, else item-vector similarity), the words and "
        "categories they share, and for "
        "explored slots the policy's reason with the propensity (printed, and in --json/--output .json)",
    )
    parser.set_defaults(func=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> int:
    from explorec import progress
    from explorec.models.saved import load_saved
    from explorec.pipeline import recommend

    if args.output and Path(args.output).suffix.lower() not in OUTPUT_FORMATS:
        raise ConfigError(
            f"--output: expected a file ending in {', '.join(OUTPUT_FORMATS)}, got {args.output!r}"
        )
    if args.output and Path(args.output).is_dir():
        raise ConfigError(f"--output: {args.output} is a folder; give a file name")
    saved = load_saved(args.model_dir, quantize=args.quantize)
    model = saved.model
    history: Interactions = model.train_
    seen = _seen(saved, args.exclude_seen)
    if args.items is not None:
        items = _split_ids(args.items, "--items")
        item_index = model.train_.item_index(items)
        history = _with_new_user(history, item_index)
        seen = None if seen is None else _with_new_user(seen, item_index)
        user_ids = [NEW_USER]
        users = np.array([model.train_.n_users], dtype=np.int64)
        parts = [model, *getattr(model, "components_", [])]  # a fusion folds in when all its parts do
        if not all(part.folds_in_new_users for part in parts):
            raise ConfigError(
                f"--items: {model.name} has per-user parameters and cannot score a new user; use a model "
                "that reads the user's history (itemknn, ease, textknn, lm-adapter, sasrec, ...)"
            )
    else:
        user_ids = _user_ids(args, model.train_)
        users = model.train_.user_index(user_ids)
    vectors, policy, context = _policy_and_item_side(args, saved)
    rows: list[dict[str, Any]] = []
    slates_out: list[dict[str, Any]] = []
    titles = saved.titles if saved.titles is not None else _dataset_titles(args, saved)
    show = args.output is None or len(user_ids) <= 20
    explainer = _Explainer(args, saved, history, vectors) if args.explain else None
    # a bar only while nothing is printed per user (it would tear the printed slates apart)
    bar = progress.bar(total=users.size, desc="recommend", unit="user", show=not show)
    for start in range(0, users.size, _BATCH):
        batch = users[start : start + _BATCH]
        slates = recommend(
            model,
            batch,
            k=args.k,
            history=history,
            exclude_seen=args.exclude_seen != "none",
            seen=seen,
            n_candidates=max(args.candidates, args.k),
            rerank=args.rerank,
            context=context,
            policy=policy,
            item_vectors=vectors,
        )
        for row_no, (user_id, slate) in enumerate(zip(user_ids[start : start + _BATCH], slates, strict=True)):
            items_out = []
            if show:
                print(f"user {user_id} ({slate.policy}{'; ' + slate.note if slate.note else ''})")
            why = [] if explainer is None else explainer(int(batch[row_no]), user_id, slate, policy)
            for pos, (item, score, prop) in enumerate(
                zip(slate.items, slate.scores, slate.propensities, strict=True), start=1
            ):
                item_id = str(model.train_.item_ids[item])
                title = "" if titles is None else str(titles[item])
                row = {
                    "user_id": user_id,
                    "rank": pos,
                    "item_id": item_id,
                    "score": float(score),
                    "propensity": float(prop),
                    "title": title,
                    "policy": slate.policy,
                }
                rows.append(row)
                items_out.append({k: row[k] for k in ("item_id", "score", "propensity", "title")})
                if why:
                    items_out[-1]["explanation"] = why[pos - 1].to_dict()
                if show:
                    print(f"  {pos:>2}. {item_id:<14} {score:9.4f}  p={prop:.3f}  {title[:70]}")
                    if why:
                        print(f"      why: {why[pos - 1].sentence}")
            slates_out.append(
                {"user_id": user_id, "policy": slate.policy, "note": slate.note, "items": items_out}
            )
        bar.update(batch.size)
    bar.close()
    if args.json:
        write_json(args.json, slates_out)
    if args.output:
        _write_rows(Path(args.output), rows, slates_out)
        print(f"wrote {len(rows)} recommendations for {len(slates_out)} user(s) -> {args.output}")
    written = [p for p in (args.output, args.json) if p]
    summary(
        args,
        f"{len(rows)} recommendations for {len(slates_out)} user(s) from {model.name} "
        f"({saved.version.name}){' with explanations' if args.explain else ''}"
        + (f" -> {', '.join(written)}" if written else ""),
    )
    return 0


def _split_ids(text: str, option: str) -> list[str]:
    ids = [x.strip() for x in text.split(",") if x.strip()]
    if not ids:
        raise ConfigError(f"{option}: give at least one id, got {text!r}")
    return ids


def _user_ids(args: argparse.Namespace, train: Interactions) -> list[str]:
    if args.users is not None:
        if args.users.strip().lower() == "all":
            return [str(u) for u in train.user_ids]
        return _split_ids(args.users, "--users")
    path = Path(args.users_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"--users-file: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--users-file: {path} cannot be read as UTF-8 text ({exc})") from None
    ids = [line.split("#", 1)[0].strip() for line in lines]
    ids = [x for x in ids if x]
    if ids and ids[0] == "user_id":  # a one-column CSV with its header
        ids = ids[1:]
    if not ids:
        raise ConfigError(f"--users-file: {path} holds no user ids")
    return ids


def _seen(saved: Any, mode: str) -> Interactions | None:
    """What to mask: None means the pipeline's default (the history) or, for ``none``, nothing."""
    if mode != "all":
        return None
    if saved.seen is None:
        logger.warning(
            "%s carries no record of every known interaction; masking only the training part", saved.version
        )
        return None
    seen: Interactions = saved.seen
    return seen


def _with_new_user(data: Interactions, items: npt.NDArray[np.int64]) -> Interactions:
    """``data`` plus one new user (the last index) who interacted with ``items`` in this order."""
    new = data.n_users
    start = float(data.timestamp.max()) + 1.0 if len(data) else 0.0
    return Interactions(
        np.concatenate([data.user, np.full(items.size, new, dtype=np.int64)]),
        np.concatenate([data.item, items]),
        np.concatenate([data.timestamp, start + np.arange(items.size, dtype=np.float64)]),
        np.concatenate([data.weight, np.ones(items.size, dtype=np.float32)]),
        np.append(data.user_ids, NEW_USER).astype(object),
        data.item_ids,
        None
        if data.rating is None
        else np.concatenate([data.rating, np.full(items.size, np.nan, np.float32)]),
        data.has_timestamps,
    )


class _Explainer:
    """``--explain``: :func:`explorec.explain.explain_record` over the saved model and catalogue."""

    def __init__(self, args: argparse.Namespace, saved: Any, history: Interactions, vectors: Any) -> None:
        from explorec.explain import model_attention, model_item_vectors, model_weights

        self.model = saved.model
        self.history = history.to_csr()
        # a sequential model's attention reads the history in time order, as its scoring does
        self.sequences = history.sequences() if model_attention(self.model) is not None else None
        self.ids = saved.model.train_.item_ids
        self.counts = saved.model.train_.item_counts()
        self.vectors = None
        if model_weights(self.model) is None and model_item_vectors(self.model) is None:
            # no item space of its own: the catalogue's text vectors
            self.vectors = vectors if vectors is not None else _item_vectors(args, saved)
        self.texts: list[str] | None = None
        self.categories: list[list[str]] | None = None
        catalog = saved.catalog
        if catalog is not None:
            from explorec.encoders.templates import item_texts

            self.texts = item_texts(catalog)
            field = next((f for f in ("genres", "categories", "category") if f in catalog.fields), None)
            if field is not None:
                values = [str(v) for v in catalog.fields[field]]
                sep = "|" if any("|" in v for v in values) else ","
                self.categories = [[c.strip() for c in v.split(sep) if c.strip()] for v in values]

    def __call__(self, user: int, user_id: str, slate: Any, policy: Any) -> list[Any]:
        from explorec.explain import explain_record
        from explorec.impressions import ImpressionRecord

        record = ImpressionRecord.from_slate(
            slate,
            recommendation_id=f"cli-{user_id}",
            user=user,
            user_id=user_id,
            item_ids=[str(self.ids[i]) for i in slate.items],
            stages=["exploration" if e else "model" for e in slate.explored],
            policy_params=None if policy is None else policy.get_params(),
        )
        known = self.history.indices[self.history.indptr[user] : self.history.indptr[user + 1]]
        sequence = None if self.sequences is None else self.sequences[user].tolist()
        return explain_record(
            record,
            known.tolist(),
            item_ids=self.ids,
            texts=self.texts,
            categories=self.categories,
            model=self.model,
            item_vectors=self.vectors,
            item_counts=self.counts,
            sequence=sequence,
        )


def _policy_and_item_side(args: argparse.Namespace, saved: Any) -> tuple[Any, Any, Any]:
    """Item vectors, the policy and the re-rank context, each built only when asked for.

    Vectors serve the re-rankers and the ``features`` column of the linear policies; the hybrid
    LinUCB's ``shared_dim`` is the width of that column unless the spec sets it.
    """
    policy = None
    vectors = None
    if args.policy:
        from explorec.policies.spec import parse_policy_spec

        spec = args.policy
        name = spec.split(":", 1)[0].strip()
        if name == "linucb-hybrid" and "shared_dim=" not in spec:
            vectors = _item_vectors(args, saved)
            spec = f"{spec}:shared_dim={_hybrid_shared_dim(vectors)}"
        policy = parse_policy_spec(spec, seed=args.seed)
    elif args.rerank:
        vectors = _item_vectors(args, saved)
    if policy is not None:
        model = saved.model
        if "uncertainty" in policy.columns_needed() and not hasattr(model, "score_uncertainty"):
            raise ConfigError(
                f"--policy {args.policy!r} needs the std of each score, which {model.name} cannot give; "
                "use a model with score_uncertainty (sasrec, lm-adapter, two-tower, with dropout > 0)"
            )
        if vectors is None and (args.rerank or "features" in policy.columns_needed()):
            vectors = _item_vectors(args, saved)
    context = None
    if args.rerank:
        from explorec.rerank import RerankContext

        context = RerankContext.from_data(saved.model.train_, saved.catalog)
    return vectors, policy, context


def _item_vectors(args: argparse.Namespace, saved: Any) -> npt.NDArray[np.float32]:
    if saved.item_vectors is not None:
        saved_vectors: npt.NDArray[np.float32] = saved.item_vectors
        return saved_vectors
    if saved.catalog is None:
        raise ConfigError(
            f"{saved.version}: the model carries neither item vectors nor a catalogue to encode; "
            "train it again with `explorec train` (which saves both)"
        )
    from explorec.encoders import HashingEncoder, item_vectors

    kind = args.item_vectors or saved.metadata.get("item_vectors") or "minilm"
    encoder = HashingEncoder() if kind == "hashing" else None
    logger.info("encoding %d saved item texts with %s", saved.catalog.n_items, kind)
    return item_vectors(saved.catalog, encoder=encoder, progress=True)


def _hybrid_shared_dim(vectors: npt.NDArray[np.float32]) -> int:
    """Width of the ``features`` column the pipeline builds from these vectors."""
    from explorec.pipeline import build_columns
    from explorec.types import CandidateFrame

    probe = CandidateFrame(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.float32))
    return int(build_columns(probe, ["features"], item_vectors=vectors).columns["features"].shape[1])


def _dataset_titles(args: argparse.Namespace, saved: Any) -> npt.NDArray[np.object_] | None:
    """Titles from the dataset recorded with a model saved without its catalogue (Python API saves)."""
    name = saved.metadata.get("dataset")
    if not name:
        return None
    from explorec.data.registry import load_dataset

    catalog = load_dataset(name, data_dir=args.data_dir or saved.metadata.get("data_dir")).catalog
    if not np.array_equal(catalog.item_ids, saved.model.train_.item_ids):
        raise DataError(f"dataset {name!r}: its items differ from the model's in {saved.version}")
    for field in ("title", "name", "text"):
        if field in catalog.fields:
            titles: npt.NDArray[np.object_] = catalog.fields[field]
            return titles
    return None


def _write_rows(path: Path, rows: list[dict[str, Any]], slates: list[dict[str, Any]]) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".json":
        write_json(path, slates)
        return
    columns = ["user_id", "rank", "item_id", "score", "propensity", "title", "policy"]
    frame = pd.DataFrame(rows, columns=columns)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
