"""Last.fm HetRec 2011 (``hetrec2011-lastfm-2k``): user-artist play counts, artist names, tags.

``user_artists.dat`` (``userID, artistID, weight`` with a header; tab-separated) gives each user's
play count per artist. The release has **no clock** for listening: the file lists each user's
artists in ascending artist id, so the row order carries no time information. explorec keeps the
file order as the order (``timestamp`` = position within the user's rows, ``has_timestamps`` False);
splits that need time should therefore be random or cold-item splits, not temporal ones.

``artists.dat`` (``id, name, url, pictureURL``, UTF-8) gives the catalogue field ``name``. The
release's ``user_taggedartists.dat`` is often missing from copies; when a RecBole export sits in
``recbole_format/lastfm.inter`` its ``tag_value`` column (comma-separated tags per user-artist pair)
supplies the field ``tags`` (distinct tags per artist, most frequent first).

Reference: I. Cantador, P. Brusilovsky, T. Kuflik, "2nd Workshop on Information Heterogeneity and
Fusion in Recommender Systems (HetRec 2011)", RecSys 2011.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from explorec.data.formats.common import (
    Col,
    aggregate_tags,
    flatten,
    ordered_interactions,
    read_delimited,
    union_vocab,
)
from explorec.data.formats.recbole import load_atomic, read_atomic
from explorec.data.interactions import Catalog, Dataset
from explorec.errors import DataError

logger = logging.getLogger(__name__)

RECBOLE_INTER = Path("recbole_format") / "lastfm.inter"


def load_lastfm_hetrec(folder: str | Path, *, name: str = "lastfm-hetrec-2k", tags: bool = True) -> Dataset:
    """Last.fm HetRec-2k: ``weight`` = play count, ``rating`` None, order = file order (no clock).

    The catalogue lists ``artists.dat`` in file order, then any artist only seen in
    ``user_artists.dat`` (counted and logged). With ``tags`` and ``recbole_format/lastfm.inter``
    present, field ``tags`` holds each artist's tags; the export's rows must be the same
    (user, artist, play count) triples as ``user_artists.dat``, which is checked.
    """
    folder = Path(folder)
    plays = read_delimited(
        folder / "user_artists.dat",
        [Col("userID", "int"), Col("artistID", "int"), Col("weight", "float")],
        sep="\t",
        header=True,
    )
    artists = read_delimited(
        folder / "artists.dat",
        [Col("id", "int"), Col("name"), Col("url", required=False), Col("pictureURL", required=False)],
        sep="\t",
        header=True,
    )
    item, item_ids, n_added = union_vocab(
        artists["id"].to_numpy(),
        plays["artistID"].to_numpy(),
        path=folder / "user_artists.dat",
        what="artist id",
    )
    if n_added:
        logger.warning("%s: %d played artists are missing from artists.dat", folder, n_added)
    user, user_ids, _ = union_vocab(
        np.zeros(0, dtype=np.int64),
        plays["userID"].to_numpy(),
        path=folder / "user_artists.dat",
        what="user id",
    )
    data = ordered_interactions(
        user, item, user_ids=user_ids, item_ids=item_ids, weight=plays["weight"].to_numpy(dtype=np.float32)
    )
    n_items = len(item_ids)
    names = np.full(n_items, "", dtype=object)
    names[: len(artists)] = artists["name"].to_numpy(dtype=object)
    fields = {"name": names}
    if tags and (folder / RECBOLE_INTER).is_file():
        fields["tags"] = _recbole_tags(folder / RECBOLE_INTER, plays, item, n_items)
    return Dataset(name, data, Catalog(item_ids, fields), source=str(folder))


def _recbole_tags(path: Path, plays: pd.DataFrame, item: np.ndarray, n_items: int) -> np.ndarray:
    table = read_atomic(path, parse_seqs=False)
    frame = table.frame
    for column in ("user_id", "item_id", "timestamp", "tag_value"):
        table.column(column)
    same = len(frame) == len(plays) and (
        np.array_equal(
            frame["user_id"].to_numpy(dtype=object), plays["userID"].astype(str).to_numpy(dtype=object)
        )
        and np.array_equal(
            frame["item_id"].to_numpy(dtype=object), plays["artistID"].astype(str).to_numpy(dtype=object)
        )
        and np.array_equal(
            frame["timestamp"].to_numpy(dtype=np.float64), plays["weight"].to_numpy(dtype=np.float64)
        )
    )
    if not same:
        raise DataError(
            f"{path}: rows differ from user_artists.dat (expected the same user, artist, play count "
            f"triples in the same order); load it on its own with load_lastfm_recbole"
        )
    raw = frame["tag_value"].to_numpy(dtype=object)
    tagged = np.flatnonzero(raw != "")  # about a fifth of the pairs carry tags
    lengths, flat = flatten([raw[k].split(",") for k in tagged])
    return aggregate_tags(np.repeat(item[tagged], lengths), flat, n_items)


def load_lastfm_recbole(folder: str | Path, *, name: str = "lastfm-recbole") -> Dataset:
    """The RecBole export of Last.fm (``lastfm.inter`` + ``lastfm.item``), e.g. ``recbole_format/``.

    Its ``timestamp:float`` column is **not a time**: the export stored the HetRec play count there
    (the values equal ``user_artists.dat``'s ``weight`` row for row, and are integers up to hundreds
    of thousands, not dates), so it is read as ``weight``; the order is the file order.
    ``tag_value`` (comma-separated) -> field ``tags``; ``.item`` columns -> ``name``, ``url``,
    ``picture_url`` fields.
    """
    return load_atomic(
        folder,
        "lastfm",
        name=name,
        time_field=None,
        weight_field="timestamp",
        seq_separator=",",
        item_tag_fields={"tag_value": "tags"},
    )
