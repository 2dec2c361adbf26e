"""MovieLens (GroupLens) in its three native layouts.

* **100K** (``u.data``, ``u.item``, ``u.genre``, ``u.user``): tab/pipe separated, ``u.item`` in latin-1.
* **CSV** (``ml-latest``, ``ml-latest-small``, 20M, 25M, 32M): ``ratings.csv``, ``movies.csv`` with
  RFC-4180 quoting, optional ``tags.csv``.
* **.dat** (1M, 10M): ``::``-separated ``ratings.dat``, ``movies.dat``, optional ``users.dat`` (1M) and
  ``tags.dat`` (10M). ML-1M's ``movies.dat`` is latin-1; by default UTF-8 is tried first.

Every layout yields the same :class:`~explorec.data.interactions.Dataset`: ``weight`` = 1, ``rating`` =
stars, ``timestamp`` = unix seconds, rows in file order. The catalogue lists the movie table's movies
first, in file order, then any rated movie the table lacks (counted and logged); movies nobody rated
stay in it as cold items. Catalogue fields: ``title`` (verbatim, with its year), ``genres`` (names
joined by ``", "``), ``tags`` (when the source has tags); attribute ``year`` (float64, NaN when unknown).

Reference: F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 2015.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explorec.data.formats.common import Col, aggregate_tags, as_ids, pad, read_delimited, union_vocab
from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.errors import DataError

logger = logging.getLogger(__name__)

#: "Toy Story (1995)", "Death Note: Desu nôto (2006–2007)", "Some Title (1999) " -> the first year
_YEAR = re.compile(r"\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
#: ML-20M+ marks a movie without genres with this literal
_NO_GENRES = "(no genres listed)"
_RATING_COLS = ("user", "item", "rating", "timestamp")
#: MovieLens collection began in 1995 (ML-100K: 1997-98; latest-small: from 1996-03-29)
_FIRST_RATING = 788_918_400.0  # 1995-01-01 UTC


def _stars(name: str, *, step: float) -> Col:
    """The documented star scale: whole stars 1-5 (100K, 1M), half stars 0.5-5 (10M, 20M, 25M, latest)."""
    return Col(name, "float", low=step, high=5.0, step=step)


def _clock(name: str) -> Col:
    return Col(name, "int", clock=True, earliest=_FIRST_RATING)


def title_year(titles: pd.Series | Sequence[str]) -> npt.NDArray[np.float64]:
    """The year in parentheses at the end of each title, as float64 (NaN when there is none).

    >>> title_year(["Toy Story (1995)", "Babylon 5", "Death Note: Desu nôto (2006–2007)"]).tolist()
    [1995.0, nan, 2006.0]
    """
    found = pd.Series(titles, dtype=str).str.extract(_YEAR, expand=False)
    return pd.to_numeric(found, errors="coerce").to_numpy(dtype=np.float64)


def _interactions(
    ratings: pd.DataFrame, *, movie_ids: npt.ArrayLike, user_ids: npt.ArrayLike | None, path: Path
) -> tuple[Interactions, int]:
    item, item_vocab, n_added = union_vocab(movie_ids, ratings["item"].to_numpy(), path=path, what="movie id")
    if user_ids is None:
        user_ids = np.zeros(0, dtype=np.int64)
    user, user_vocab, _ = union_vocab(user_ids, ratings["user"].to_numpy(), path=path, what="user id")
    n = len(ratings)
    data = Interactions(
        user,
        item,
        ratings["timestamp"].to_numpy(dtype=np.float64),
        np.ones(n, dtype=np.float32),
        user_vocab,
        item_vocab,
        ratings["rating"].to_numpy(dtype=np.float32),
        True,
    )
    if n_added:
        logger.warning("%s: %d rated movies are missing from the movie table (empty text)", path, n_added)
    return data, n_added


def _genres(raw: pd.Series, separator: str) -> npt.NDArray[np.object_]:
    text = raw.astype(str).where(raw.astype(str) != _NO_GENRES, "")
    return text.str.split(separator, regex=False).str.join(", ").to_numpy(dtype=object)


def _catalog(
    item_ids: npt.NDArray[np.object_],
    titles: pd.Series,
    genres: npt.NDArray[np.object_],
    year: npt.NDArray[np.float64],
    tags: npt.NDArray[np.object_] | None = None,
) -> Catalog:
    n = len(item_ids)
    fields = {
        "title": pad(titles.to_numpy(dtype=object), n, ""),
        "genres": pad(genres, n, ""),
    }
    if tags is not None:
        fields["tags"] = tags
    return Catalog(item_ids, fields, {"year": pad(year, n, np.nan)})


def _tags(
    path: Path, cols: Sequence[Col], data: Interactions, *, item_col: str, tag_col: str, **read: Any
) -> npt.NDArray[np.object_]:
    table = read_delimited(path, cols, **read)
    codes = pd.Index(data.item_ids).get_indexer(pd.Index(as_ids(table[item_col])))
    unknown = codes < 0
    if unknown.any():
        logger.warning(
            "%s: %d tag rows name movies absent from ratings and movies; those rows are not used",
            path,
            int(unknown.sum()),
        )
    return aggregate_tags(codes[~unknown], table[tag_col].to_numpy()[~unknown], data.n_items)


# -------------------------------------------------------------------------------------------- 100K
def load_movielens_100k(folder: str | Path, *, name: str = "movielens-100k") -> Dataset:
    """MovieLens 100K: ``u.data``, ``u.item`` (latin-1), ``u.genre``, ``u.user``.

    ``user_features``: ``age`` (int64), ``gender``, ``occupation``, ``zip`` (str), aligned with
    ``interactions.user_ids``. Attribute ``year`` comes from the title, else from the release date.
    ``title`` keeps the year ("Toy Story (1995)").
    """
    folder = Path(folder)
    genre_table = read_delimited(folder / "u.genre", [Col("name"), Col("index", "int")], sep="|")
    if genre_table["index"].tolist() != list(range(len(genre_table))):
        raise DataError(f"{folder / 'u.genre'}: genre indices must run 0, 1, ... in order")
    genre_names = genre_table["name"].tolist()
    item_cols = [
        Col("item", "int"),
        Col("title"),
        Col("release_date", required=False),
        Col("video_release_date", required=False),
        Col("url", required=False),
        *(Col(f"genre_{k}", "int") for k in range(len(genre_names))),
    ]
    movies = read_delimited(folder / "u.item", item_cols, sep="|", encoding="latin-1")
    users = read_delimited(
        folder / "u.user",
        [Col("user", "int"), Col("age", "int"), Col("gender"), Col("occupation"), Col("zip")],
        sep="|",
    )
    ratings = read_delimited(
        folder / "u.data",
        [Col("user", "int"), Col("item", "int"), _stars("rating", step=1.0), _clock("timestamp")],
        sep="\t",
    )
    data, _ = _interactions(
        ratings,
        movie_ids=movies["item"].to_numpy(),
        user_ids=users["user"].to_numpy(),
        path=folder / "u.data",
    )
    flags = movies[[f"genre_{k}" for k in range(len(genre_names))]].to_numpy() != 0
    names = np.array(genre_names, dtype=object)
    genres = np.array([", ".join(names[row]) for row in flags], dtype=object)
    year = title_year(movies["title"])
    release_year = pd.to_datetime(movies["release_date"], format="%d-%b-%Y", errors="coerce").dt.year
    year = np.where(np.isnan(year), release_year.to_numpy(dtype=np.float64, na_value=np.nan), year)
    catalog = _catalog(data.item_ids, movies["title"], genres, year)

    n_users = data.n_users
    features = {
        "age": pad(users["age"].to_numpy(dtype=np.float64), n_users, np.nan),
        "gender": pad(users["gender"].to_numpy(dtype=object), n_users, ""),
        "occupation": pad(users["occupation"].to_numpy(dtype=object), n_users, ""),
        "zip": pad(users["zip"].to_numpy(dtype=object), n_users, ""),
    }
    if not np.isnan(features["age"]).any():
        features["age"] = features["age"].astype(np.int64)
    return Dataset(name, data, catalog, user_features=features, source=str(folder))


# --------------------------------------------------------------------------------------------- CSV
def load_movielens_csv(folder: str | Path, *, name: str = "movielens-latest-small") -> Dataset:
    """MovieLens CSV layout (ml-latest-small, ml-latest, 20M, 25M, 32M).

    ``ratings.csv`` (``userId,movieId,rating,timestamp``), ``movies.csv`` (``movieId,title,genres``,
    genres ``|``-separated; "(no genres listed)" becomes an empty string) and, when present,
    ``tags.csv`` (``userId,movieId,tag,timestamp``) -> field ``tags``: each movie's distinct tags
    (case-insensitive), most frequent first, joined by ``", "``.
    """
    folder = Path(folder)
    movies = read_delimited(
        folder / "movies.csv",
        # genres is never empty in MovieLens ("(no genres listed)"), which also exposes a truncated line
        [Col("movieId", "int"), Col("title"), Col("genres")],
        sep=",",
        header=True,
        quoted=True,
    )
    ratings = read_delimited(
        folder / "ratings.csv",
        [
            Col("userId", "int"),
            Col("movieId", "int"),
            _stars("rating", step=0.5),
            _clock("timestamp"),
        ],
        sep=",",
        header=True,
        quoted=True,
    )
    ratings.columns = list(_RATING_COLS)
    data, _ = _interactions(ratings, movie_ids=movies["movieId"].to_numpy(), user_ids=None, path=folder)
    tags = None
    if (folder / "tags.csv").is_file():
        tags = _tags(
            folder / "tags.csv",
            [Col("movieId", "int"), Col("tag", required=False)],
            data,
            item_col="movieId",
            tag_col="tag",
            sep=",",
            header=True,
            quoted=True,
        )
    catalog = _catalog(
        data.item_ids, movies["title"], _genres(movies["genres"], "|"), title_year(movies["title"]), tags
    )
    return Dataset(name, data, catalog, source=str(folder))


# -------------------------------------------------------------------------------------------- .dat
def load_movielens_dat(
    folder: str | Path,
    *,
    name: str = "movielens-1m",
    encoding: str | Sequence[str] = ("utf-8", "latin-1"),
) -> Dataset:
    """MovieLens ``::`` layout (1M, 10M): ``ratings.dat``, ``movies.dat``, optional users/tags ``.dat``.

    ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``; ``movies.dat``: ``MovieID::Title::Genres``
    (``|``-separated); ``users.dat`` (1M): ``UserID::Gender::Age::Occupation::Zip-code`` ->
    ``user_features`` ``gender``, ``age`` (the 1M age-group code), ``occupation`` (code), ``zip``;
    ``tags.dat`` (10M): ``UserID::MovieID::Tag::Timestamp`` -> field ``tags``. ``encoding`` lists the
    encodings tried in order for the text files (ML-1M's ``movies.dat`` is latin-1).
    """
    folder = Path(folder)
    movies = read_delimited(
        folder / "movies.dat",
        [Col("item", "int"), Col("title"), Col("genres", required=False)],
        sep="::",
        encoding=encoding,
    )
    user_table = None
    if (folder / "users.dat").is_file():
        user_table = read_delimited(
            folder / "users.dat",
            [Col("user", "int"), Col("gender"), Col("age", "int"), Col("occupation"), Col("zip")],
            sep="::",
            encoding=encoding,
        )
    ratings = read_delimited(
        folder / "ratings.dat",
        [Col("user", "int"), Col("item", "int"), _stars("rating", step=0.5), _clock("timestamp")],
        sep="::",
    )
    data, _ = _interactions(
        ratings,
        movie_ids=movies["item"].to_numpy(),
        user_ids=None if user_table is None else user_table["user"].to_numpy(),
        path=folder / "ratings.dat",
    )
    tags = None
    if (folder / "tags.dat").is_file():
        tags = _tags(
            folder / "tags.dat",
            [Col("user", "int"), Col("item", "int"), Col("tag", required=False), _clock("timestamp")],
            data,
            item_col="item",
            tag_col="tag",
            sep="::",
            encoding=encoding,
        )
    catalog = _catalog(
        data.item_ids, movies["title"], _genres(movies["genres"], "|"), title_year(movies["title"]), tags
    )
    features: dict[str, np.ndarray] = {}
    if user_table is not None:
        n = data.n_users
        features = {
            "gender": pad(user_table["gender"].to_numpy(dtype=object), n, ""),
            "age": pad(user_table["age"].to_numpy(dtype=np.float64), n, np.nan),
            "occupation": pad(user_table["occupation"].to_numpy(dtype=object), n, ""),
            "zip": pad(user_table["zip"].to_numpy(dtype=object), n, ""),
        }
        if not np.isnan(features["age"]).any():
            features["age"] = features["age"].astype(np.int64)
    return Dataset(name, data, catalog, user_features=features, source=str(folder))
