"""Amazon review sequences as preprocessed by S3-Rec (Beauty, Sports_and_Outdoors, Toys_and_Games).

``<Name>.txt`` holds one user per line, ``user_id item_id item_id ...``, items in chronological order,
ids re-mapped to integers from 1. ``<Name>_item2attributes.json`` maps item id -> list of attribute
ids (category and brand ids; no strings survive the preprocessing). The benchmark protocol is
leave-one-out: last item = test, second-to-last = validation.

Reference: K. Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
Information Maximization", CIKM 2020.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from explorec.data.formats.common import as_ids, last_two_split, ordered_interactions, pick_encoding
from explorec.data.interactions import Catalog, Dataset
from explorec.errors import DataError

logger = logging.getLogger(__name__)


def read_sequences(path: str | Path) -> tuple[list[str], list[npt.NDArray[np.int64]]]:
    """Parse ``user item item ...`` lines (whitespace-separated integers; blank lines skipped).

    Returns the user ids (in file order) and each user's item ids (int64, in file order).

    Raises
    ------
    DataError
        A line with a user but no item, a token that is not an integer, or a user listed twice
        (file and 1-based line named).
    """
    path = Path(path)
    raw = path.read_bytes()
    text = raw.decode(pick_encoding(path, raw, ("utf-8",)))
    users: list[str] = []
    sequences: list[npt.NDArray[np.int64]] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            raise DataError(
                f"{path}:{number}: user {tokens[0]!r} has no items (expected 'user item item ...')"
            )
        try:
            items = np.array(tokens[1:], dtype=np.int64)
        except ValueError:
            bad = next(t for t in tokens[1:] if not t.lstrip("+-").isdigit())
            raise DataError(f"{path}:{number}: item id {bad!r} is not an integer") from None
        user = tokens[0]
        if user in first_line:
            raise DataError(
                f"{path}:{number}: user {user!r} already has a sequence at line {first_line[user]}"
            )
        first_line[user] = number
        users.append(user)
        sequences.append(items)
    return users, sequences


def read_item_attributes(path: str | Path) -> dict[int, list[int]]:
    """Parse ``{"item_id": [attribute_id, ...]}``; keys and values must be integers."""
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(table, dict):
        raise DataError(f"{path}: expected an object of item id -> list of attribute ids")
    out: dict[int, list[int]] = {}
    for key, values in table.items():
        if not (str(key).lstrip("-").isdigit() and isinstance(values, list)):
            raise DataError(f"{path}: item {key!r}: expected an integer id mapped to a list, got {values!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise DataError(f"{path}: item {key!r}: attribute ids must be integers, got {values!r}")
        out[int(key)] = values
    return out


def load_s3rec(folder: str | Path, prefix: str, *, name: str | None = None) -> Dataset:
    """An S3-Rec Amazon dataset (``<prefix>.txt`` + ``<prefix>_item2attributes.json`` when present).

    Items are indexed in ascending id order over the union of the sequences and the attribute table;
    users in file order. No clock: ``timestamp`` is the position in the user's sequence and
    ``has_timestamps`` is False. Field ``attributes``: the item's attribute ids joined by spaces, in
    the file's order (empty when the item has none). ``Dataset.split`` is the benchmark's
    leave-one-out (last item test, second-to-last valid, the rest train).
    """
    folder = Path(folder)
    seq_path = folder / f"{prefix}.txt"
    users, sequences = read_sequences(seq_path)
    attr_path = folder / f"{prefix}_item2attributes.json"
    attributes = read_item_attributes(attr_path) if attr_path.is_file() else {}

    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    flat = np.concatenate(sequences) if sequences else np.zeros(0, dtype=np.int64)
    vocab = np.union1d(flat, np.fromiter(attributes, dtype=np.int64, count=len(attributes)))
    item = np.searchsorted(vocab, flat).astype(np.int64)
    user = np.repeat(np.arange(len(users), dtype=np.int64), lengths)
    item_ids = as_ids(vocab)
    data = ordered_interactions(user, item, user_ids=as_ids(users), item_ids=item_ids)

    no_attributes = len(set(vocab.tolist()) - set(attributes))
    if attributes and no_attributes:
        logger.info("%s: %d items have no attributes", attr_path, no_attributes)
    field = np.array([" ".join(map(str, attributes.get(int(i), []))) for i in vocab], dtype=object)
    catalog = Catalog(item_ids, {"attributes": field} if attributes else {})
    name = name or prefix
    logger.info(
        "%s: %d users, %d items, %d interactions", seq_path, len(users), len(vocab), int(lengths.sum())
    )
    split = last_two_split(data, name=f"{name} leave-one-out (S3-Rec protocol)")
    return Dataset(name, data, catalog, split=split, source=str(seq_path))


def attribute_lists(catalog: Catalog) -> list[npt.NDArray[np.int64]]:
    """The ``attributes`` field back as int64 arrays, one per item."""
    return [np.array(v.split(), dtype=np.int64) for v in pd.Series(catalog.field("attributes"), dtype=str)]
