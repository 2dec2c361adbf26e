"""RecBole atomic files (``.inter``, ``.item``, ``.user``, ``.text``) and the UniSRec pre-split layout.

An atomic file is tab-separated, unquoted, with a header of ``name:type`` columns; ``type`` is one of
``token`` (a string), ``token_seq`` (tokens separated by ``seq_separator``), ``float`` and ``float_seq``.
UniSRec (Hou et al., "Towards Universal Sequence Representation Learning for Recommender Systems",
KDD 2022) ships each downstream dataset as ``<name>.{train,valid,test}.inter`` with columns
``user_id:token, item_id_list:token_seq, item_id:token`` (the history before a target item, capped at
50 items), ``<name>.text`` (``item_id:token, text:token_seq``, keyed by ASIN) and
``<name>.item2index`` / ``<name>.user2index`` (external id -> integer id used in the ``.inter`` files).

Reference: W. X. Zhao et al., "RecBole: Towards a Unified, Comprehensive and Efficient Framework for
Recommendation Algorithms", CIKM 2021 (atomic-file format).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from explorec.data.formats.common import (
    LINE,
    Col,
    aggregate_tags,
    as_ids,
    factorize,
    flatten,
    last_two_split,
    pad,
    positions,
    read_delimited,
    union_vocab,
)
from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.errors import DataError

logger = logging.getLogger(__name__)

ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")


@dataclass(frozen=True)
class AtomicTable:
    """A parsed atomic file.

    Attributes
    ----------
    path : Path
    frame : pandas.DataFrame
        Columns named without their type suffix. ``token`` -> str; ``float`` -> float64 (NaN where
        empty); ``token_seq`` -> list[str] per row (or the raw string when not parsed);
        ``float_seq`` -> float64 arrays per row (or the raw string).
    types : dict[str, str]
        Column name -> atomic type.
    lines : int64[n_rows]
        1-based line number of each row in the file (for error messages).
    """

    path: Path
    frame: pd.DataFrame
    types: dict[str, str] = field(default_factory=dict)
    lines: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def column(self, name: str) -> pd.Series:
        """One column; a missing one raises ``DataError`` naming the columns found."""
        if name not in self.frame.columns:
            raise DataError(
                f"{self.path}: missing column {name!r}; columns found: {list(self.frame.columns)}"
            )
        return self.frame[name]


def read_atomic(path: str | Path, *, seq_separator: str = " ", parse_seqs: bool = True) -> AtomicTable:
    """Read a RecBole atomic file (``.inter``, ``.item``, ``.user``, ``.text``, ...).

    Parameters
    ----------
    path : path
    seq_separator : str
        Separator inside ``token_seq`` / ``float_seq`` values (RecBole's ``seq_separator``, a space by
        default; some exports use ``","``).
    parse_seqs : bool
        Split sequence columns into lists (True) or keep their raw strings (False).

    Raises
    ------
    DataError
        A header column without a known ``:type``, a line with a wrong number of fields, or a
        ``float``/``float_seq`` value that is not a number (file and line named).
    """
    path = Path(path)
    with path.open("rb") as handle:
        # undecodable bytes are reported with their line by read_delimited below
        first = handle.readline().decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    raw_names = first.split("\t")
    types: dict[str, str] = {}
    cols: list[Col] = []
    for raw_name in raw_names:
        name, _, kind = raw_name.partition(":")
        if kind not in ATOMIC_TYPES:
            raise DataError(
                f"{path}:1: column {raw_name!r} needs a type suffix, one of {', '.join(ATOMIC_TYPES)}"
            )
        types[name] = kind
        cols.append(Col(raw_name, "float" if kind == "float" else "str", required=False))
    frame = read_delimited(path, cols, sep="\t", header=True, line_numbers=True)
    lines = frame.pop(LINE).to_numpy(dtype=np.int64)
    frame.columns = list(types)
    if parse_seqs:
        for name, kind in types.items():
            if kind == "token_seq":
                frame[name] = _split(frame[name], seq_separator)
            elif kind == "float_seq":
                frame[name] = _float_seq(path, name, frame[name], seq_separator, lines)
    return AtomicTable(path, frame, types, lines)


def _split(values: pd.Series, separator: str) -> pd.Series:
    return pd.Series(
        [[] if not v else v.split(separator) for v in values.to_numpy(dtype=object)],
        index=values.index,
        dtype=object,
    )


def _float_seq(
    path: Path, name: str, values: pd.Series, separator: str, lines: npt.NDArray[np.int64]
) -> pd.Series:
    out = []
    for row, text in enumerate(values.to_numpy(dtype=object)):
        try:
            out.append(np.array(text.split(separator) if text else [], dtype=np.float64))
        except ValueError:
            raise DataError(
                f"{path}:{lines[row]}: field {name!r} = {text!r} is not a list of numbers"
            ) from None
    return pd.Series(out, index=values.index, dtype=object)


def _index_file(path: Path) -> pd.DataFrame:
    """``<name>.item2index`` / ``.user2index``: external id -> dense integer, one pair a line."""
    table = read_delimited(path, [Col("external"), Col("index", "int")], sep="\t")
    expected = np.arange(len(table))
    if not np.array_equal(np.sort(table["index"].to_numpy()), expected):
        raise DataError(f"{path}: indices must be 0..{len(table) - 1}, each once")
    return table.sort_values("index", kind="stable")


# ------------------------------------------------------------------------------- generic .inter/.item
def load_atomic(
    folder: str | Path,
    prefix: str,
    *,
    name: str | None = None,
    user_field: str = "user_id",
    item_field: str = "item_id",
    time_field: str | None = "timestamp",
    rating_field: str | None = "rating",
    weight_field: str | None = None,
    seq_separator: str = " ",
    item_tag_fields: Mapping[str, str] | None = None,
) -> Dataset:
    """A dataset from ``<folder>/<prefix>.inter`` (+ ``<prefix>.item`` and ``<prefix>.user`` when present).

    Parameters
    ----------
    time_field, rating_field, weight_field : str or None
        ``.inter`` columns used as the clock, the explicit rating and the implicit weight. A field
        named here but absent from the file is an error unless it is the default ``timestamp`` /
        ``rating`` (then the dataset simply has none). Without a clock the row order is time.
    item_tag_fields : mapping
        ``.inter`` ``token_seq`` columns aggregated into catalogue fields per item, e.g.
        ``{"tag_value": "tags"}`` (distinct values, most frequent first).

    The catalogue lists the ``.item`` items first (file order), then items only seen in ``.inter``.
    ``.item`` ``token``/``token_seq`` columns become text fields (verbatim), ``float`` columns numeric
    attributes (NaN where empty); ``float_seq`` columns are not used. ``.user`` columns become
    ``user_features`` the same way (its users first in the user vocabulary).
    """
    folder = Path(folder)
    inter = read_atomic(folder / f"{prefix}.inter", seq_separator=seq_separator)
    frame = inter.frame
    item_path = folder / f"{prefix}.item"
    # sequence columns of the item file are text (e.g. RecBole's "movie_title:token_seq"): kept verbatim
    items = read_atomic(item_path, parse_seqs=False) if item_path.is_file() else None
    first_items = (
        np.zeros(0, dtype=object) if items is None else items.column(item_field).to_numpy(dtype=object)
    )
    item, item_ids, n_added = union_vocab(
        first_items, inter.column(item_field).to_numpy(dtype=object), path=inter.path, what="item id"
    )
    if items is not None and n_added:
        logger.warning("%s: %d items are missing from %s (empty text)", inter.path, n_added, item_path)
    user_path = folder / f"{prefix}.user"
    users = read_atomic(user_path, parse_seqs=False) if user_path.is_file() else None
    first_users = (
        np.zeros(0, dtype=object) if users is None else users.column(user_field).to_numpy(dtype=object)
    )
    user, user_ids, _ = union_vocab(
        first_users, inter.column(user_field).to_numpy(dtype=object), path=inter.path, what="user id"
    )

    def numeric(field_name: str | None, default: str) -> npt.NDArray[np.float64] | None:
        if field_name is None or (field_name == default and field_name not in frame.columns):
            return None
        if inter.types.get(field_name, "float") != "float":
            raise DataError(
                f"{inter.path}: column {field_name!r} must be float, not {inter.types[field_name]}"
            )
        values = inter.column(field_name).to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            line = inter.lines[int(np.flatnonzero(~np.isfinite(values))[0])]
            raise DataError(f"{inter.path}:{line}: field {field_name!r} is empty")
        return values

    ts = numeric(time_field, "timestamp")
    rating = numeric(rating_field, "rating")
    weight = numeric(weight_field, "")
    n = len(frame)
    data = Interactions(
        user,
        item,
        positions(user) if ts is None else ts,
        np.ones(n, dtype=np.float32) if weight is None else weight.astype(np.float32),
        user_ids,
        item_ids,
        None if rating is None else rating.astype(np.float32),
        ts is not None,
    )

    fields: dict[str, npt.NDArray[np.object_]] = {}
    attributes: dict[str, np.ndarray] = {}
    if items is not None:
        n_items = len(item_ids)
        for column, kind in items.types.items():
            if column == item_field:
                continue
            values = items.frame[column]
            if kind == "float":
                attributes[column] = pad(values.to_numpy(dtype=np.float64), n_items, np.nan)
            elif kind in ("token", "token_seq"):
                fields[column] = pad(values.to_numpy(dtype=object), n_items, "")
    for column, target in (item_tag_fields or {}).items():
        if inter.types.get(column) != "token_seq":
            raise DataError(
                f"{inter.path}: column {column!r} must be a token_seq, found {inter.types.get(column)}"
            )
        lengths, flat = flatten(inter.column(column).tolist())
        fields[target] = aggregate_tags(np.repeat(item, lengths), flat, len(item_ids))
    features: dict[str, np.ndarray] = {}
    if users is not None:
        for column, kind in users.types.items():
            values = users.frame[column]
            if kind == "float":
                features[column] = pad(values.to_numpy(dtype=np.float64), len(user_ids), np.nan)
            elif kind in ("token", "token_seq") and column != user_field:
                features[column] = pad(values.to_numpy(dtype=object), len(user_ids), "")
    catalog = Catalog(item_ids, fields, attributes)
    return Dataset(name or prefix, data, catalog, user_features=features, source=str(folder / prefix))


# ------------------------------------------------------------------------------------------ UniSRec
def load_unisrec(folder: str | Path, prefix: str, *, name: str | None = None) -> Dataset:
    """A UniSRec downstream dataset with its shipped leave-one-out split.

    Each user's full chronological sequence is rebuilt from the three files: the earliest item opens
    the user's shortest training history, every training line contributes its target, then the
    validation target and the test target follow. Every line's ``item_id_list`` is checked against
    the rebuilt sequence (it must be the last ``min(len, cap)`` items before its target, ``cap`` being
    the longest list in the files, 50 for UniSRec), so the result reproduces the files exactly:
    ``split.train`` = all but each user's last two items, ``split.valid`` = the second-to-last,
    ``split.test`` = the last. Rebuilding from the training lines, rather than from the test line's
    capped history, keeps the oldest items of users with more than ``cap + 1`` interactions.

    Item ids are the ASINs of ``<prefix>.item2index`` (internal index = the file's integer id) and
    user ids the reviewer ids of ``<prefix>.user2index``; without those files the integer tokens are
    the ids. Field ``text`` holds ``<prefix>.text`` ("title. categories. brand.", surrounding
    whitespace stripped). No clock: ``timestamp`` is the position in the user's sequence.
    """
    folder = Path(folder)
    parts = {
        part: read_atomic(folder / f"{prefix}.{part}.inter", parse_seqs=False)
        for part in ("train", "valid", "test")
    }
    sequences = _rebuild_sequences(parts)
    user_tokens = np.array(list(sequences), dtype=object)
    lengths, item_tokens = flatten(list(sequences.values()))
    user, user_ids = _ids(folder / f"{prefix}.user2index", user_tokens, "user")
    item, item_ids = _ids(folder / f"{prefix}.item2index", item_tokens, "item")

    user_rows = np.repeat(user, lengths)
    position = np.arange(len(user_rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    order = np.argsort(user_rows, kind="stable")  # rows grouped by internal user index
    data = Interactions(
        user_rows[order],
        item[order],
        position.astype(np.float64)[order],
        np.ones(len(user_rows), dtype=np.float32),
        user_ids,
        item_ids,
        None,
        False,
    )
    fields: dict[str, npt.NDArray[np.object_]] = {}
    text_path = folder / f"{prefix}.text"
    if text_path.is_file():
        fields["text"] = _text_field(text_path, item_ids)
    name = name or prefix
    split = last_two_split(data, name=f"{name} shipped leave-one-out")
    return Dataset(name, data, Catalog(item_ids, fields), split=split, source=str(folder / prefix))


def _ids(
    index_path: Path, tokens: npt.NDArray[np.object_], what: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Internal indices and external ids: from ``<prefix>.{what}2index`` when present, else the tokens."""
    if not index_path.is_file():
        return factorize(tokens)
    table = _index_file(index_path)
    codes = pd.Index(table["index"].astype(str)).get_indexer(pd.Index(tokens)).astype(np.int64)
    if (codes < 0).any():
        raise DataError(f"{index_path}: {what} id {tokens[codes < 0][0]!r} of the .inter files has no entry")
    return codes, as_ids(table["external"])


def _text_field(path: Path, item_ids: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    text = read_atomic(path, parse_seqs=False)
    keys = text.column("item_id").to_numpy(dtype=object)
    column = next((c for c in text.types if c != "item_id"), None)
    if column is None:
        raise DataError(f"{path}: no text column besides item_id")
    where = pd.Index(item_ids).get_indexer(pd.Index(keys))
    known = where >= 0
    if not known.all():
        logger.warning("%s: %d items are not in the item index; their text is not used", path, (~known).sum())
    out = np.full(len(item_ids), "", dtype=object)
    out[where[known]] = text.frame[column].str.strip().to_numpy(dtype=object)[known]
    n_empty = int((out == "").sum())
    if n_empty:
        logger.warning("%s: %d items have no text", path, n_empty)
    return out


@dataclass
class _Chain:
    """A user's rebuilt sequence and the history string the user's next line must carry."""

    items: list[str]
    window: str  # the last min(len(items), cap) items, space-joined
    size: int  # number of items in ``window``

    def advance(self, target: str, cap: int) -> None:
        self.items.append(target)
        if self.size < cap:
            self.window, self.size = f"{self.window} {target}" if self.size else target, self.size + 1
        else:  # the list is capped: the oldest item leaves the window
            rest = self.window.partition(" ")[2]
            self.window = f"{rest} {target}" if rest else target


def _rebuild_sequences(parts: Mapping[str, AtomicTable]) -> dict[str, list[str]]:
    """User token -> full item-token sequence, checked against every line of the three files.

    Each line's ``item_id_list`` must equal the window of the last ``min(len, cap)`` items before its
    target; the window is carried along as a string, so no list is split except a user's first.
    """
    columns = {}
    cap = 1
    for part, table in parts.items():
        lists = table.column("item_id_list")
        columns[part] = (
            table.column("user_id").to_numpy(dtype=object),
            lists.to_numpy(dtype=object),
            table.column("item_id").to_numpy(dtype=object),
            np.where(lists == "", 0, lists.str.count(" ").to_numpy(dtype=np.int64) + 1),
        )
        if len(lists):
            cap = max(cap, int(columns[part][3].max()))

    def check(table: AtomicTable, row: int, user: str, history: str, chain: _Chain) -> None:
        if history != chain.window:
            raise DataError(
                f"{table.path}:{table.lines[row]}: item_id_list of user {user!r} does not match the "
                f"{chain.size} items before its target in the rebuilt sequence"
            )

    users, histories, targets, lengths = columns["train"]
    train = parts["train"]
    # UniSRec writes each user's training lines newest first; rebuild oldest first: by user, then
    # history length, then later line first (capped lines all have the same length)
    user_codes = pd.factorize(users)[0]
    order = np.lexsort((-np.arange(len(users)), lengths, user_codes))
    chains: dict[str, _Chain] = {}
    chain = _Chain([], "", 0)
    current = None
    for row, user, history, target, size in zip(
        order.tolist(),
        users[order].tolist(),
        histories[order].tolist(),
        targets[order].tolist(),
        lengths[order].tolist(),
        strict=True,
    ):
        if user != current:
            if size != 1:
                raise DataError(
                    f"{train.path}:{train.lines[row]}: the oldest training line of user {user!r} should "
                    f"hold one history item, found {size}"
                )
            chain = chains[user] = _Chain([history], history, 1)
            current = user
        check(train, row, user, history, chain)
        chain.advance(target, cap)

    for part in ("valid", "test"):
        table = parts[part]
        seen: set[str] = set()
        for row, (user, history, target, size) in enumerate(
            zip(*(c.tolist() for c in columns[part]), strict=True)
        ):
            if user in seen:
                raise DataError(f"{table.path}:{table.lines[row]}: user {user!r} has a second {part} line")
            seen.add(user)
            if user not in chains:
                if part == "test":
                    raise DataError(f"{table.path}:{table.lines[row]}: user {user!r} has no validation line")
                chains[user] = _Chain(history.split(" ") if history else [], history, int(size))
            check(table, row, user, history, chains[user])
            chains[user].advance(target, cap)
        missing = set(chains) - seen
        if missing:
            raise DataError(
                f"{table.path}: {len(missing)} users lack a {part} line, e.g. {sorted(missing)[0]!r}"
            )
    return {user: chain.items for user, chain in chains.items()}
