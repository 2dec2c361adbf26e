"""Active learning for new users on MovieLens latest-small: which questions give the best first lists?

Protocol (the usual one in active-learning CF, e.g. Elahi, Ricci & Rubens 2016): 20% of the users
(seeded) are held out as new users; the question selectors and the recommender see only the other
users' interactions. Each new user's rated movies are split at random in two halves: K, what they
can tell us about, and T, what they will watch next (the test set, the same for every strategy).
Each new user is asked up to 10 questions "do you know this movie?", answered yes when the movie is
in K. After 1, 3, 5 and 10 answers a history-based model (item-kNN, fitted on the other users)
recommends 10 movies from the positive answers (popularity breaks ties, so a user without a "yes"
gets the popular list); movies answered "yes" are masked, and NDCG@10 is measured against T (full
ranking over the catalogue). The same answers also feed the selector's own posterior over the
training users ("user-kNN posterior"), which uses the negative answers too. Reference points: the
popular list (no question), and item-kNN given all of K (every question answered at once).

Strategies: random (any movie with a rating), popular, pop-entropy (Rashid et al. 2002), diverse
(greedy k-center over the language-model item vectors among the 500 most popular), uncertainty
(adaptive, maximum answer entropy under the posterior), uncertainty + diversity, and personalized
(adaptive, the most likely "yes" under the posterior; Rashid et al.'s item-item personalised).

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/active_learning.py [--data-dir DIR] [--seed 0]
Writes bench/results/active_learning.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from _provenance import Provenance
from explorec.data.interactions import Interactions
from explorec.data.registry import load_dataset
from explorec.evaluation.metrics import ndcg
from explorec.models.registry import make_model
from explorec.policies.active import QuestionSelector

CHECKPOINTS = (1, 3, 5, 10)
STRATEGIES = {
    "random": {"strategy": "random"},
    "popular": {"strategy": "popular"},
    "pop-entropy": {"strategy": "pop-entropy"},
    "diverse": {"strategy": "diverse"},
    "uncertainty": {"strategy": "uncertainty"},
    "uncertainty+diversity": {"strategy": "uncertainty", "diversity": 0.5},
    "personalized": {"strategy": "personalized"},
}


def ndcg_at_10(scores: np.ndarray, masks: list[np.ndarray], targets: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(len(targets))
    for j, (row, mask, target) in enumerate(zip(scores, masks, targets, strict=True)):
        s = row.astype(np.float64).copy()
        s[mask] = -np.inf
        top = np.argpartition(-s, 10)[:10]
        top = top[np.argsort(-s[top], kind="stable")]
        hits = np.isin(top, target)[None, :]
        out[j] = ndcg(hits, np.array([target.size]), 10)[0]
    return out


def run_split(dataset, vectors: np.ndarray, seed: int, args: argparse.Namespace) -> dict[str, object]:
    """One held-out split: per strategy and number of answers, the per-user NDCG@10 and yes-rates."""
    data = dataset.interactions
    rng = np.random.default_rng(seed)
    users = data.active_users()
    new_users = np.sort(rng.choice(users, size=round(args.holdout * users.size), replace=False))
    train = data.select(~np.isin(data.user, new_users))
    known_half: dict[int, np.ndarray] = {}
    truth: dict[int, np.ndarray] = {}
    for u in new_users:
        items_u = rng.permutation(np.unique(data.item[data.user == u]))
        known_half[int(u)] = np.sort(items_u[: items_u.size // 2])
        truth[int(u)] = np.sort(items_u[items_u.size // 2 :])
    targets = [truth[int(u)] for u in new_users]
    t0 = time.perf_counter()
    model = make_model("itemknn", progress=False).fit(train)
    fit_seconds = time.perf_counter() - t0
    popularity = train.item_counts().astype(np.float64)
    tie_break = 1e-6 * popularity / popularity.max()

    def history_of(pairs: list[tuple[int, int]]) -> Interactions:
        n = len(pairs)
        return Interactions(
            np.array([u for u, _ in pairs], dtype=np.int64),
            np.array([i for _, i in pairs], dtype=np.int64),
            np.zeros(n),
            np.ones(n, dtype=np.float32),
            data.user_ids,
            data.item_ids,
            has_timestamps=False,
        )

    def masks_of(known: dict[int, np.ndarray]) -> list[np.ndarray]:
        out = []
        for u in new_users:
            m = np.zeros(data.n_items, dtype=bool)
            m[known.get(int(u), np.zeros(0, dtype=np.int64))] = True
            out.append(m)
        return out

    popular = ndcg_at_10(np.tile(popularity, (new_users.size, 1)), masks_of({}), targets)
    all_k = history_of([(int(u), int(i)) for u in new_users for i in known_half[int(u)]])
    upper = ndcg_at_10(model.score(new_users, history=all_k) + tie_break, masks_of(known_half), targets)
    per: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for name, params in STRATEGIES.items():
        sel = QuestionSelector(pool_size=args.pool, seed=seed, **params).fit(  # type: ignore[arg-type]
            train, item_vectors=vectors if name in ("diverse", "uncertainty+diversity") else None
        )
        asked: dict[int, list[tuple[int, bool]]] = {}
        for u in new_users:
            known = set(known_half[int(u)].tolist())
            items, answers = sel.ask(max(CHECKPOINTS), lambda item, known=known: item in known)
            asked[int(u)] = list(zip(items.tolist(), answers.tolist(), strict=True))
        per[name] = {}
        for n in CHECKPOINTS:
            yes = {
                int(u): np.array([i for i, a in asked[int(u)][:n] if a], dtype=np.int64) for u in new_users
            }
            history = history_of([(u, int(i)) for u, items in yes.items() for i in items])
            scores = model.score(new_users, history=history) + tie_break
            row = {
                "ndcg": ndcg_at_10(scores, masks_of(yes), targets),
                "yes": np.array([np.mean([a for _, a in asked[int(u)][:n]]) for u in new_users]),
            }
            if name == "uncertainty":
                posts = np.stack([sel.posterior(dict(asked[int(u)][:n])) for u in new_users])
                row["posterior"] = ndcg_at_10(posts, masks_of(yes), targets)
            per[name][n] = row
    return {
        "popular": popular,
        "upper": upper,
        "per": per,
        "new_users": int(new_users.size),
        "fit": fit_seconds,
    }


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "../shared/datasets"))
    parser.add_argument("--seeds", type=int, default=3, help="held-out splits 0..S-1")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--pool", type=int, default=500)
    parser.add_argument("--out", default="bench/results/active_learning.json")
    args = parser.parse_args()
    start = time.perf_counter()
    dataset = load_dataset("movielens-latest-small", data_dir=args.data_dir)
    from explorec.encoders import item_vectors

    vectors = item_vectors(dataset.catalog)
    splits = [run_split(dataset, vectors, seed, args) for seed in range(args.seeds)]
    n_new = sum(int(s["new_users"]) for s in splits)  # type: ignore[call-overload]
    print(
        f"movielens-latest-small: {args.seeds} splits x {splits[0]['new_users']} new users ({n_new} in all), "
        f"half of each new user's movies answerable, the other half the test set; pool {args.pool}; "
        f"recommender item-kNN (default params, fit {np.mean([s['fit'] for s in splits]):.0f}s per split)"
    )

    def pooled(values: list[np.ndarray]) -> tuple[float, float]:
        v = np.concatenate(values)
        return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))

    pop_mean, pop_se = pooled([s["popular"] for s in splits])  # type: ignore[misc]
    up_mean, up_se = pooled([s["upper"] for s in splits])  # type: ignore[misc]
    print(f"no question (popular list): NDCG@10 {pop_mean:.4f} ± {pop_se:.4f}")
    print(f"item-kNN given all answerable movies: NDCG@10 {up_mean:.4f} ± {up_se:.4f}")
    print(f"{'strategy':<22}" + "".join(f"{f'n={n}':>22}" for n in CHECKPOINTS))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in STRATEGIES:
        results[name] = {}
        cells = []
        for n in CHECKPOINTS:
            mean, se = pooled([s["per"][name][n]["ndcg"] for s in splits])  # type: ignore[index]
            yes, _ = pooled([s["per"][name][n]["yes"] for s in splits])  # type: ignore[index]
            row = {"ndcg@10": mean, "ndcg@10_se": se, "yes_rate": yes}
            if name == "uncertainty":
                row["ndcg@10_posterior"] = pooled([s["per"][name][n]["posterior"] for s in splits])[0]  # type: ignore[index]
            results[name][str(n)] = row
            cells.append(f"{mean:.4f}±{se:.4f} ({yes:.2f})")
        print(f"{name:<22}" + "".join(f"{c:>22}" for c in cells))
    print("(cells: NDCG@10 ± standard error over all new users; in brackets the share of 'yes' answers)")
    print(
        "user-kNN posterior after uncertainty questions (also uses the 'no' answers): "
        + ", ".join(f"n={n}: {results['uncertainty'][str(n)]['ndcg@10_posterior']:.4f}" for n in CHECKPOINTS)
    )
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": "movielens-latest-small",
        "settings": vars(args) | {"new_users_total": n_new, "model": "itemknn (default params)"},
        "popular_no_question_ndcg@10": pop_mean,
        "itemknn_all_answerable_ndcg@10": up_mean,
        "results": results,
        "seconds": seconds,
        "machine": "2-core shared CPU, no GPU",
        "provenance": prov.finish(),
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out} ({seconds:.0f}s)")


if __name__ == "__main__":
    main()
