"""Any interaction table (CSV/TSV or Parquet) with a column mapping, plus an optional item table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from explorec.data.formats.common import (
    LINE,
    Col,
    as_ids,
    check_number_scale,
    check_values,
    factorize,
    positions,
    read_delimited,
    union_vocab,
)
from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

_PARQUET = (".parquet", ".pq")
#: file suffix -> field separator of the text formats
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
#: suffixes refused with a pointer to what to do (reading them as CSV gives nonsense)
_NOT_TABLES = {
    ".json": "JSON", ".jsonl": "JSON Lines", ".ndjson": "JSON Lines", ".xlsx": "Excel", ".xls": "Excel",
    ".gz": "compressed", ".zip": "compressed",
}  # fmt: skip


def table_separator(path: Path, sep: str | None) -> str | None:
    """The separator of ``path`` from its suffix (None for Parquet); ``sep`` wins and is checked.

    Raises
    ------
    ConfigError
        A suffix that is no table format explorec reads (``.json``, ``.xlsx``, ...), or an unknown
        suffix without an explicit ``sep``.
    """
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return None
    if suffix in _NOT_TABLES:
        raise ConfigError(
            f"{path}: a {_NOT_TABLES[suffix]} file is not a table explorec reads; allowed: "
            f"{', '.join([*SEPARATORS, *_PARQUET])} (or another suffix with an explicit sep)"
        )
    by_suffix = SEPARATORS.get(suffix)
    if sep is None:
        if by_suffix is None:
            raise ConfigError(
                f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; allowed: "
                f"{', '.join([*SEPARATORS, *_PARQUET])}, or pass sep"
            )
        return by_suffix
    if by_suffix is not None and sep != by_suffix:
        logger.warning("%s: read with sep=%r although the suffix %s means %r", path, sep, suffix, by_suffix)
    return sep


def _where(path: Path, frame: pd.DataFrame, row: int) -> str:
    """``file:line`` for text files, ``file: row N`` for Parquet."""
    if LINE in frame.columns:
        return f"{path}:{int(frame[LINE].iloc[row])}"
    return f"{path}: row {row + 1}"


def _read(path: Path, cols: Sequence[Col], *, sep: str | None, encoding: str) -> pd.DataFrame:
    """CSV/TSV through the checked reader (with :data:`LINE`); Parquet with the same checks."""
    sep = table_separator(path, sep)
    if sep is not None:
        return read_delimited(
            path, cols, sep=sep, header=True, encoding=encoding, quoted=True, line_numbers=True
        )
    import pyarrow.parquet as pq

    found = pq.read_schema(path).names
    missing = [c.name for c in cols if c.name not in found]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; columns found: {found}")
    frame = pd.read_parquet(path, columns=[c.name for c in cols])
    for col in cols:
        values = frame[col.name]
        if col.kind == "str":
            text = values.astype(str).where(values.notna(), "")
            if col.required and (text == "").any():
                row = int(np.flatnonzero((text == "").to_numpy())[0])
                raise DataError(f"{path}: row {row + 1}: field {col.name!r} is empty")
            frame[col.name] = text
            continue
        number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(number)
        if not col.required:
            bad &= values.notna().to_numpy()
        if col.kind == "int":
            bad |= np.isfinite(number) & (number != np.round(number))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: row {row + 1}: field {col.name!r} = {values.iloc[row]!r} is not a number"
            )
        frame[col.name] = number.astype(np.int64) if col.kind == "int" else number
    check_values(path, frame, cols, lambda: np.arange(1, len(frame) + 1), header=True)
    return frame


def _time(frame: pd.DataFrame, column: str, path: Path) -> npt.NDArray[np.float64]:
    """Unix seconds from a numeric column or ISO-8601 text (naive times are read as UTC).

    A column must use one form throughout; the first value of the other form (or of neither) is
    reported with its own line. Seconds are checked for magnitude (milliseconds are refused).
    """
    values = frame[column].astype(str).str.strip()
    number = pd.to_numeric(values, errors="coerce")
    numeric = number.notna().to_numpy(dtype=bool)
    if numeric.all():
        seconds = number.to_numpy(dtype=np.float64)
    else:
        stamps = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        stamps[~numeric] = pd.to_datetime(values[~numeric], errors="coerce", utc=True, format="ISO8601")
        dated = stamps.notna().to_numpy(dtype=bool)
        neither = ~numeric & ~dated
        if neither.any():
            row = int(np.flatnonzero(neither)[0])
            raise DataError(
                f"{_where(path, frame, row)}: field {column!r} = {values.iloc[row]!r} is neither unix "
                "seconds nor an ISO-8601 date"
            )
        if numeric.any() and dated.any():
            row = int(np.flatnonzero(numeric if numeric.sum() < dated.sum() else dated)[0])
            first = int(np.flatnonzero(~numeric if numeric.sum() < dated.sum() else numeric)[0])
            raise DataError(
                f"{_where(path, frame, row)}: field {column!r} = {values.iloc[row]!r} mixes unix seconds and "
                f"ISO-8601 dates (the column's form is that of {_where(path, frame, first)})"
            )
        delta = stamps - pd.Timestamp("1970-01-01", tz="UTC")
        seconds = np.asarray(delta.dt.total_seconds().to_numpy(), dtype=np.float64)
    check_number_scale(path, Col(column, "float", clock=True), seconds, lambda row: _line(frame, row))
    return seconds


def _line(frame: pd.DataFrame, row: int) -> str:
    """The line of ``row`` (text files) or ``row N`` (Parquet), for ``file:line`` messages."""
    return str(int(frame[LINE].iloc[row])) if LINE in frame.columns else f" row {row + 1}"


def _check_unique_ids(path: Path, frame: pd.DataFrame, column: str) -> None:
    duplicated = frame[column].duplicated().to_numpy(dtype=bool)
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        value = frame[column].iloc[row]
        first = int(np.flatnonzero((frame[column] == value).to_numpy(dtype=bool))[0])
        raise DataError(
            f"{_where(path, frame, row)}: item id {value!r} is listed again (first at "
            f"{_where(path, frame, first)}); the item table needs one row per item"
        )


def load_table(
    path: str | Path,
    *,
    user_col: str,
    item_col: str,
    time_col: str | None = None,
    rating_col: str | None = None,
    weight_col: str | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
    rating_range: tuple[float, float] | None = None,
    item_table: str | Path | None = None,
    item_id_col: str | None = None,
    text_cols: Sequence[str] = (),
    attribute_cols: Sequence[str] = (),
    name: str | None = None,
) -> Dataset:
    """A dataset from an interaction table in CSV/TSV (RFC-4180 quoting) or Parquet (by suffix).

    Parameters
    ----------
    path : path
        The interaction table, with a header row.
    user_col, item_col : str
        External user / item id columns (read as strings, verbatim).
    time_col : str, optional
        Unix seconds or ISO-8601 dates. Without it the row order is time (``has_timestamps`` False,
        ``timestamp`` = position within the user's rows).
    rating_col, weight_col : str, optional
        Explicit rating and implicit weight (float); the weight defaults to 1.
    sep : str, optional
        Field separator; by default from the suffix (``.csv`` comma, ``.tsv``/``.tab`` tab; Parquet by
        ``.parquet``/``.pq``). ``.json``, ``.xlsx`` and other non-table suffixes are refused.
    encoding : str
        Text encoding.
    rating_range : (float, float), optional
        The rating scale (inclusive); a rating outside it is an error naming the line.
    item_table : path, optional
        Item table (CSV/Parquet) whose ``item_id_col`` (default ``item_col``) lists the catalogue in
        order; ``text_cols`` become text fields (missing values -> ""), ``attribute_cols`` numeric
        attributes (float64). Items only in the interactions are appended (counted and logged);
        items only in the item table stay as cold items.
    name : str, optional
        Dataset name (default: the file stem).

    Raises
    ------
    DataError
        A missing column (the columns found are listed), an empty id, a non-numeric rating/weight
        or time, with the file and line (CSV) or row (Parquet).
    """
    path = Path(path)
    cols = [Col(user_col), Col(item_col)]
    if time_col:
        cols.append(Col(time_col))
    low, high = rating_range if rating_range is not None else (None, None)
    if rating_col:
        cols.append(Col(rating_col, "float", low=low, high=high))
    if weight_col:
        cols.append(Col(weight_col, "float"))
    frame = _read(path, cols, sep=sep, encoding=encoding)
    n = len(frame)
    user, user_ids = factorize(frame[user_col].to_numpy(dtype=object))
    first_items: npt.NDArray[np.object_] = np.zeros(0, dtype=object)
    items = None
    if item_table is not None:
        item_table = Path(item_table)
        id_col = item_id_col or item_col
        items = _read(
            item_table,
            [
                Col(id_col),
                *(Col(c, required=False) for c in text_cols),
                *(Col(c, "float", False) for c in attribute_cols),
            ],
            sep=sep,
            encoding=encoding,
        )
        _check_unique_ids(item_table, items, id_col)
        first_items = items[id_col].to_numpy(dtype=object)
    item, item_ids, n_added = union_vocab(
        first_items, frame[item_col].to_numpy(dtype=object), path=path, what="item id"
    )
    if items is not None and n_added:
        logger.warning("%s: %d items are missing from %s (empty text)", path, n_added, item_table)
    ts = _time(frame, time_col, path) if time_col else positions(user)
    data = Interactions(
        user,
        item,
        ts,
        frame[weight_col].to_numpy(dtype=np.float32) if weight_col else np.ones(n, dtype=np.float32),
        user_ids,
        item_ids,
        frame[rating_col].to_numpy(dtype=np.float32) if rating_col else None,
        time_col is not None,
    )
    fields: dict[str, npt.NDArray[np.object_]] = {}
    attributes: dict[str, np.ndarray] = {}
    if items is not None:
        k = len(items)
        for column in text_cols:
            fields[column] = np.full(len(item_ids), "", dtype=object)
            fields[column][:k] = as_ids(items[column])
        for column in attribute_cols:
            attributes[column] = np.full(len(item_ids), np.nan)
            attributes[column][:k] = items[column].to_numpy(dtype=np.float64)
    return Dataset(name or path.stem, data, Catalog(item_ids, fields, attributes), source=str(path))
