"""Any interaction table (CSV/TSV or Parquet) with a column mapping, plus an optional item table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from explorec.data.formats.common import LINE, Col, as_ids, factorize, positions, read_delimited, union_vocab
from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.errors import DataError

logger = logging.getLogger(__name__)

_PARQUET = (".parquet", ".pq")


def _where(path: Path, frame: pd.DataFrame, row: int) -> str:
    """``file:line`` for text files, ``file: row N`` for Parquet."""
    if LINE in frame.columns:
        return f"{path}:{int(frame[LINE].iloc[row])}"
    return f"{path}: row {row + 1}"


def _read(path: Path, cols: Sequence[Col], *, sep: str, encoding: str) -> pd.DataFrame:
    """CSV/TSV through the checked reader (with :data:`LINE`); Parquet with the same checks."""
    if path.suffix.lower() not in _PARQUET:
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
    return frame


def _time(frame: pd.DataFrame, column: str, path: Path) -> npt.NDArray[np.float64]:
    """Unix seconds from a numeric column or ISO-8601 text (naive times are read as UTC)."""
    values = frame[column]
    number = pd.to_numeric(values, errors="coerce")
    if number.notna().all():
        return number.to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise DataError(
            f"{_where(path, frame, row)}: field {column!r} = {values.iloc[row]!r} is neither unix seconds "
            "nor an ISO-8601 date"
        )
    seconds = (stamps - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    return np.asarray(seconds.to_numpy(), dtype=np.float64)


def load_table(
    path: str | Path,
    *,
    user_col: str,
    item_col: str,
    time_col: str | None = None,
    rating_col: str | None = None,
    weight_col: str | None = None,
    sep: str = ",",
    encoding: str = "utf-8",
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
    sep, encoding : str
        CSV separator and text encoding.
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
    cols += [Col(c, "float") for c in (rating_col, weight_col) if c]
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
