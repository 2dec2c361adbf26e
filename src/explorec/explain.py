"""Grounded explanations of a shown slate: evidence for every item, and nothing beyond it.

For each recommended item an :class:`ItemExplanation` holds

* the **evidence items**: the items of the user's history that drove it, weighted by what the model
  itself uses (:attr:`ItemExplanation.evidence_kind` says which):

  - ``"item-item weight"``: ``itemknn`` (``similarity_``) and ``EASE`` (``weights_``); a user's
    score for ``i`` is the sum of ``W[h, i]`` over history items ``h``;
  - ``"attention"``: the sequential Transformer models (SASRec with any ``item_input``, the LM
    adapter, :class:`explorec.models.torch_base.SequenceAttention`). They score every item from
    the hidden state of the last history position, so the evidence is how much that position's
    attention read each history item: attention *rollout* without the residual term (the product of
    the head-averaged attention matrices of the blocks, last row; see
    :func:`explorec.models.transformer.last_position_attention`). On the known-answer case of
    ``tests/test_explain.py`` (the next item is set by one earlier history item among random
    fillers; a 2-block SASRec) the rollout's top item is that one for 92% of 200 users, the mean of
    each block's last attention row for 80%, and the rollout with the residual identity
    (Abnar & Zuidema, 2020) for 20.5% (its identity term always favours the latest item); with one
    block the first two are the same and right for every user. The weights describe the user's
    state, so every slot of one slate has the same evidence ranking; the shared words and
    categories are the slot's own. Items older than the model's ``max_len`` were not read: they are
    never attention evidence;
  - ``"embedding similarity"``: cosine similarity of item vectors for the other models: the
    caller's (e.g. the served text vectors), else the model's own item space
    (:func:`model_item_vectors`: textknn, two-tower);
* what each evidence item **shares** with the recommended one: words in common between their texts
  (lower-cased word tokens, stop words and one-letter tokens dropped) and categories in common;
* the **stage** of the fallback chain that produced the slot (from the impression record);
* for an **explored** slot, the policy's reason (``epsilon draw``, ``softmax sample``, ``high
  uncertainty``, ``new item``, ``exploration budget``) with the slot's propensity.

The one-line :attr:`ItemExplanation.sentence` is assembled from these fields only, so it never says
more than the evidence does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import DataError
from explorec.impressions import ImpressionRecord

#: how the evidence weights were obtained
EVIDENCE_KINDS = ("item-item weight", "attention", "embedding similarity", "none")

_TOKEN = re.compile(r"[a-z0-9]+")
# function words say nothing about why two items are alike
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were "
    "with without into over under their his her our your you we they not no".split()
)


@dataclass(frozen=True)
class Evidence:
    """One history item that supports a recommendation."""

    item: int
    item_id: str
    weight: float
    shared_words: tuple[str, ...] = ()
    shared_categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "item_id": self.item_id,
            "weight": self.weight,
            "shared_words": list(self.shared_words),
            "shared_categories": list(self.shared_categories),
        }


@dataclass(frozen=True)
class ItemExplanation:
    """Why one slot of a slate shows its item (see the module docstring for each field's source)."""

    position: int
    item: int
    item_id: str
    score: float | None
    stage: str
    explored: bool
    propensity: float
    evidence_kind: str
    evidence: tuple[Evidence, ...] = ()
    exploration_reason: str | None = None
    sentence: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "item": self.item,
            "item_id": self.item_id,
            "score": self.score,
            "stage": self.stage,
            "explored": self.explored,
            "propensity": self.propensity,
            "evidence_kind": self.evidence_kind,
            "evidence": [e.to_dict() for e in self.evidence],
            "exploration_reason": self.exploration_reason,
            "sentence": self.sentence,
        }


def tokens(text: str) -> set[str]:
    """The content words of ``text``: lower-cased alphanumeric tokens without stop words or 1-letter ones."""
    return {t for t in _TOKEN.findall(text.lower()) if len(t) > 1 and t not in _STOP}


def model_weights(model: Any) -> npt.NDArray[np.float64] | sp.spmatrix | None:
    """The model's item-item weight matrix ``W`` (score of ``i`` = sum of ``W[h, i]``), or None.

    ``itemknn``'s ``similarity_`` and ``EASE``'s ``weights_``; a fusion or a wrapper exposes neither.
    """
    if model is None:
        return None
    name = getattr(model, "name", "")
    if name == "itemknn" and getattr(model, "similarity_", None) is not None:
        weights: Any = model.similarity_
        return weights
    if name in ("ease", "ease-ipw") and getattr(model, "weights_", None) is not None:
        return np.asarray(model.weights_)
    return None


def model_item_vectors(model: Any) -> npt.NDArray[np.float32] | None:
    """The model's own item vectors, float32[n_items, dim], or None when it has none.

    ``textknn``'s text vectors (``item_vectors_``), the two-tower's item tower
    (``item_embeddings()``), and SASRec's output item table (rows ``1..N`` of ``module_.items()``:
    its scores are dot products with these rows).
    """
    if model is None:
        return None
    own = getattr(model, "item_vectors_", None)
    if own is not None:
        return np.asarray(own, dtype=np.float32)
    if callable(getattr(model, "item_embeddings", None)):
        return np.asarray(model.item_embeddings(), dtype=np.float32)
    if getattr(model, "name", "") == "sasrec" and getattr(model, "module_", None) is not None:
        import torch

        with torch.no_grad():
            table = model.module_.items()  # [N+2, D]: row 0 pads, row N+1 is the mask token
        return np.asarray(table[1 : model.n_items_ + 1].detach().float().cpu().numpy(), dtype=np.float32)
    return None


def model_attention(model: Any) -> Any:
    """The model's ``history_attention(sequence)`` when it is a sequential attention model, else None.

    A registry version served by the service (``RegistryServedModel``) is looked through to the
    trained model it wraps (``trained_``).
    """
    if model is None:
        return None
    model = getattr(model, "trained_", model)
    from explorec.models.torch_base import SequenceAttention

    if isinstance(model, SequenceAttention) and getattr(model, "module_", None) is not None:
        return model.history_attention
    return None


def attention_by_item(model: Any, sequence: Sequence[int]) -> dict[int, float] | None:
    """Attention evidence per history item: the weights of its positions in ``sequence`` summed.

    ``sequence`` is the user's history in the order the model reads it (oldest first, repeats kept);
    None when the model has no attention (:func:`model_attention`).
    """
    attend = model_attention(model)
    if attend is None:
        return None
    seq = np.asarray(sequence, dtype=np.int64).reshape(-1)
    n = int(getattr(getattr(model, "trained_", model), "n_items_", 0))
    if seq.size and (seq.min() < 0 or seq.max() >= n):
        raise DataError(f"explain: a history item index exceeds the model's {n} items")
    weights = attend(seq)
    out: dict[int, float] = {}
    for item, w in zip(seq.tolist(), weights.tolist(), strict=True):
        out[item] = out.get(item, 0.0) + float(w)
    return out


def evidence_matrix(
    items: Sequence[int],
    history: Sequence[int],
    *,
    model: Any = None,
    item_vectors: npt.ArrayLike | None = None,
    sequence: Sequence[int] | None = None,
) -> tuple[str, npt.NDArray[np.float64]]:
    """``(kind, W)`` with ``W[j, h]`` the support of history item ``history[h]`` for ``items[j]``.

    Item-item weights when the model has them (:func:`model_weights`), else the attention of a
    sequential model over ``sequence`` (default: ``history`` in the given order;
    :func:`attention_by_item`), else cosine similarity of ``item_vectors``, else of the model's own
    item vectors (:func:`model_item_vectors`); ``("none", zeros)`` when none is available or the
    history is empty.
    """
    rec = np.asarray(items, dtype=np.int64)
    hist = np.asarray(history, dtype=np.int64)
    if hist.size == 0 or rec.size == 0:
        return "none", np.zeros((rec.size, hist.size))
    attention = attention_by_item(model, list(history) if sequence is None else sequence)
    if attention is not None:
        row = np.array([attention.get(int(h), 0.0) for h in hist], dtype=np.float64)  # [H]
        return "attention", np.tile(row, (rec.size, 1))  # [J, H]: one user state scores every item
    weights = model_weights(model)
    if weights is not None:
        n = weights.shape[0]
        if rec.max() >= n or hist.max() >= n:
            raise DataError(f"explain: an item index exceeds the model's {n} items")
        block = weights[hist][:, rec]  # [H, J]
        dense = block.toarray() if sp.issparse(block) else np.asarray(block)  # type: ignore[union-attr]
        return "item-item weight", np.asarray(dense, dtype=np.float64).T
    if item_vectors is None:
        item_vectors = model_item_vectors(model)
    if item_vectors is None:
        return "none", np.zeros((rec.size, hist.size))
    v = np.asarray(item_vectors, dtype=np.float64)
    if rec.max() >= v.shape[0] or hist.max() >= v.shape[0]:
        raise DataError(f"explain: item_vectors has {v.shape[0]} rows; an item index exceeds it")
    a, b = v[rec], v[hist]
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return "embedding similarity", a @ b.T  # [J, H]


def exploration_reason(
    policy: str,
    params: Mapping[str, Any],
    *,
    is_new: bool,
    uncertainty: float | None = None,
) -> str:
    """The policy's reason for an explored slot, from its name, parameters and the item's facts."""
    parts = []
    if is_new:
        parts.append("new item (no interactions yet)")
    if policy == "eps-greedy":
        eps = params.get("epsilon")
        parts.append("exploration budget: epsilon draw" + (f" (epsilon={eps})" if eps is not None else ""))
    elif policy == "softmax":
        t = params.get("temperature")
        parts.append("softmax sample" + (f" (temperature={t})" if t is not None else ""))
    elif policy in ("ucb", "ts", "lints", "linucb", "linucb-hybrid", "uncertainty"):
        parts.append(
            "high uncertainty" + (f" (score std {uncertainty:.3g})" if uncertainty is not None else "")
        )
    elif policy == "budget":
        parts.append("exploration budget")
    else:
        parts.append(f"explored by policy {policy}")
    return "; ".join(parts)


def _sentence(exp: ItemExplanation) -> str:
    head = f"{exp.item_id} (position {exp.position + 1}, stage {exp.stage})"
    if exp.evidence:
        top = exp.evidence[0]
        because = f"because you interacted with {top.item_id} ({exp.evidence_kind} {top.weight:.3f}"
        shared = []
        if top.shared_words:
            shared.append("shared words: " + ", ".join(top.shared_words[:5]))
        if top.shared_categories:
            shared.append("shared categories: " + ", ".join(top.shared_categories[:5]))
        because += ("; " + "; ".join(shared) if shared else "") + ")"
        if len(exp.evidence) > 1:
            because += " and " + ", ".join(e.item_id for e in exp.evidence[1:])
        text = f"{head}: {because}"
    else:
        text = f"{head}: no history item supports it"
    if exp.explored:
        text += f"; explored: {exp.exploration_reason} with propensity {exp.propensity:.3f}"
    return text + "."


def explain_record(
    record: ImpressionRecord,
    history: Sequence[int],
    *,
    item_ids: Sequence[str] | npt.NDArray[np.object_],
    texts: Sequence[str] | Mapping[int, str] | None = None,
    categories: Sequence[Sequence[str]] | Mapping[int, Sequence[str]] | None = None,
    model: Any = None,
    item_vectors: npt.ArrayLike | None = None,
    item_counts: npt.ArrayLike | None = None,
    uncertainty: Mapping[int, float] | None = None,
    n_evidence: int = 3,
    sequence: Sequence[int] | None = None,
) -> list[ItemExplanation]:
    """Explain every slot of ``record`` for the user whose (internal) item history is ``history``.

    Parameters
    ----------
    record : ImpressionRecord
        The shown slate (its items are internal indices into ``item_ids``/``texts``/``categories``).
    history : sequence of int
        The user's known items (internal indices); duplicates count once.
    item_ids : sequence of str
        External id of every item.
    texts, categories : optional
        Each item's text and category names (a sequence over all items, or a mapping that holds at
        least the slate's and the history's items), for the shared words and categories.
    model : Recommender, optional
        The scoring model; its item-item weights (:func:`model_weights`) or, for a sequential model,
        its attention (:func:`attention_by_item`) are used when it has them.
    item_vectors : float[n_items, dim], optional
        Item vectors for embedding-similarity evidence (used when the model has no item-item weights).
    item_counts : float[n_items], optional
        Interactions per item; an explored item with none is reported as a new item.
    uncertainty : dict item -> std, optional
        Score standard deviations, quoted for uncertainty-driven exploration.
    n_evidence : int
        Evidence items kept per slot (the strongest positive ones).
    sequence : sequence of int, optional
        The user's history in the order a sequential model reads it (oldest first, repeats kept),
        for attention evidence; default: ``history`` in the given order.
    """
    hist = list(dict.fromkeys(int(h) for h in history))
    kind, weights = evidence_matrix(
        record.items,
        hist,
        model=model,
        item_vectors=item_vectors,
        sequence=list(history) if sequence is None else sequence,
    )
    counts = None if item_counts is None else np.asarray(item_counts, dtype=np.float64)
    word_cache: dict[int, set[str]] = {}

    def words(i: int) -> set[str]:
        if texts is None:
            return set()
        if i not in word_cache:
            word_cache[i] = tokens(str(texts[i]))
        return word_cache[i]

    out = []
    for pos, item in enumerate(record.items):
        row = weights[pos] if weights.size else np.zeros(len(hist))
        order = np.argsort(-row, kind="stable")  # ties: earlier history item first
        evidence = []
        for h in order[:n_evidence]:
            w = float(row[h])
            if not w > 0 or math.isnan(w):
                break
            other = hist[int(h)]
            cats: tuple[str, ...] = ()
            if categories is not None:
                mine = list(categories[item])
                cats = tuple(c for c in mine if c in set(categories[other]))
            evidence.append(
                Evidence(
                    item=other,
                    item_id=str(item_ids[other]),
                    weight=w,
                    shared_words=tuple(sorted(words(item) & words(other))),
                    shared_categories=cats,
                )
            )
        explored = bool(record.explored[pos])
        reason = None
        if explored:
            reason = exploration_reason(
                record.policy,
                record.policy_params,
                is_new=counts is not None and item < counts.size and counts[item] == 0,
                uncertainty=None if uncertainty is None else uncertainty.get(int(item)),
            )
        score = record.scores[pos]
        exp = ItemExplanation(
            position=pos,
            item=int(item),
            item_id=str(record.item_ids[pos]),
            score=None if math.isnan(score) else float(score),
            stage=record.stages[pos],
            explored=explored,
            propensity=float(record.propensities[pos]),
            evidence_kind=kind if evidence else "none",
            evidence=tuple(evidence),
            exploration_reason=reason,
        )
        out.append(_with_sentence(exp))
    return out


def _with_sentence(exp: ItemExplanation) -> ItemExplanation:
    from dataclasses import replace

    return replace(exp, sentence=_sentence(exp))
