"""Machinery shared by the native-format loaders.

* :func:`read_delimited` reads a delimited text file with the pandas C parser and turns every problem
  into a :class:`~explorec.errors.DataError` that names the file, the 1-based line and the field.
  The fast path parses once with the declared dtypes; only when that fails (or a vectorised check
  finds an empty/non-finite value) is the file re-read as text to locate the first bad row.
* Id vocabularies (:func:`factorize`, :func:`union_vocab`), per-user positions for sources without a
  clock, tag aggregation, and the leave-last-two split that several sources ship.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from explorec.data.interactions import Interactions, Split
from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

Kind = Literal["int", "float", "str"]
_DTYPES: dict[str, Any] = {"int": "int64", "float": "float64", "str": str}
#: stands in for multi-character separators (``::``) so that the C parser can read them
_UNIT_SEP = "\x1f"
#: bytes scanned at a time by the vectorised field-count check
_CHUNK = 1 << 24
#: name of the line-number column that ``read_delimited(..., line_numbers=True)`` adds
LINE = "__line__"
#: unix seconds beyond this (year 5138) are milliseconds or finer: 1.7e12 ms is November 2023
MAX_UNIX_SECONDS = 1e11
#: a UTF-8 lead byte (U+00C2..U+00F4 read as latin-1/cp1252) followed by a continuation byte: mojibake
_MOJIBAKE = (
    r"[\u00c2-\u00f4]"  # the lead byte
    r"[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]"
)


@dataclass(frozen=True)
class Col:
    """One column a reader expects.

    Parameters
    ----------
    name : str
        Column name (the header name, or the name given to a headerless file's field).
    kind : {"int", "float", "str"}
        ``int`` and ``float`` values are parsed and checked; ``str`` is kept verbatim.
    required : bool
        When True an empty value is an error (and, for ``float``, so is NaN or infinity).
        ``int`` columns are always required; use ``float`` for optional numbers.
    low, high, step : float, optional
        The documented scale of a number column (MovieLens ratings: 0.5 to 5 in steps of 0.5); a
        value off the scale is an error naming the line.
    clock : bool
        The column holds unix seconds: a value above :data:`MAX_UNIX_SECONDS` (milliseconds or
        microseconds) is an error, one before ``earliest`` a warning naming the first such line.
    """

    name: str
    kind: Kind = "str"
    required: bool = True
    low: float | None = None
    high: float | None = None
    step: float | None = None
    clock: bool = False
    earliest: float | None = None


def read_delimited(
    path: str | Path,
    cols: Sequence[Col],
    *,
    sep: str = "\t",
    header: bool = False,
    encoding: str | Sequence[str] = "utf-8",
    quoted: bool = False,
    line_numbers: bool = False,
) -> pd.DataFrame:
    """Read the columns ``cols`` of a delimited text file, checking every line.

    Parameters
    ----------
    path : path
        The file.
    cols : sequence of Col
        Without ``header``: every field of the file, in order (a line with another number of fields
        is an error). With ``header``: the columns to return, found by name in the first line (other
        columns are allowed and ignored).
    sep : str
        Field separator; multi-character separators such as ``"::"`` are supported.
    header : bool
        Whether the first line holds column names.
    encoding : str or sequence of str
        Text encoding, or candidates tried in order (the first one that decodes the whole file wins;
        e.g. ``("utf-8", "latin-1")``).
    quoted : bool
        RFC-4180 quoting (``"a, b"``). False reads quote characters as ordinary characters.
    line_numbers : bool
        Add a column :data:`LINE` (int64) holding each row's 1-based line number in the file, for
        checks that callers make after reading.

    Returns
    -------
    pandas.DataFrame
        The columns of ``cols`` in that order: ``int64``, ``float64`` or strings; blank lines skipped.

    Raises
    ------
    DataError
        ``"<file>:<line>: ..."`` for a wrong number of fields, an empty required field, a value that
        is not a number, or bytes that do not decode; a missing column names the columns found.
    """
    path = Path(path)
    for col in cols:
        if col.kind == "int" and not col.required:
            raise ConfigError(f"column {col.name!r}: optional numbers must use kind='float', not 'int'")
    raw = path.read_bytes()
    enc = pick_encoding(path, raw, (encoding,) if isinstance(encoding, str) else tuple(encoding))
    sep1 = sep
    if len(sep) > 1:
        if _UNIT_SEP.encode() in raw:
            raise DataError(
                f"{path}: contains byte 0x1f, which the reader of {sep!r}-separated files reserves"
            )
        raw = raw.replace(sep.encode(enc), _UNIT_SEP.encode())
        sep1 = _UNIT_SEP
    # with quote characters present a line may span several physical lines: only the parser can count
    quotes_active = quoted and b'"' in raw
    if header:
        names = _header_names(raw, sep1, enc, quoted)
        missing = [c.name for c in cols if c.name not in names]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; columns found: {names}")
    else:
        names = [c.name for c in cols]
    lines = None if quotes_active else _check_field_counts(path, raw, sep1, names, header)

    options: dict[str, Any] = {
        "sep": sep1,
        "header": 0 if header else None,
        "encoding": enc,
        "quoting": csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
        "keep_default_na": False,
        # only optional numbers may be empty (NaN); text keeps "" and required numbers must parse
        "na_values": {c.name: [""] for c in cols if c.kind == "float" and not c.required},
        "engine": "c",
        "skip_blank_lines": True,
    }
    if not header:
        options["names"] = names
    if quotes_active:
        dtype = dict.fromkeys(names, str)
    else:
        # field counts are already checked, so reading only the wanted columns loses no check
        options["usecols"] = [c.name for c in cols]
        dtype = {}
    dtype.update({c.name: _DTYPES[c.kind] for c in cols})
    try:
        frame: pd.DataFrame | None = pd.read_csv(io.BytesIO(raw), dtype=dtype, **options)
    except pd.errors.ParserError as exc:
        if quotes_active:  # the parser counts records, not lines: find the record by scanning
            found_record = _first_wrong_record(raw, sep1=sep1, enc=enc, header=header, n_fields=len(names))
            if found_record is not None:
                line, n_found = found_record
                raise DataError(
                    f"{path}:{line}: expected {len(names)} fields ({', '.join(names)}), found {n_found}"
                ) from None
        raise _parser_error(path, exc, names) from None
    except (ValueError, OverflowError):
        frame = None  # some value does not parse: locate it below
    known_lines = lines

    def line_numbers_of_rows() -> npt.NDArray[np.int64]:
        nonlocal known_lines
        if known_lines is None:
            known_lines = _row_lines(raw, sep1=sep1, enc=enc, header=header, quoted=quotes_active)
        return known_lines

    if frame is not None and not _has_bad_value(frame, cols):
        frame = frame[[c.name for c in cols]]
        check_values(path, frame, cols, line_numbers_of_rows, header=header)
        _check_last_line(path, raw)
        if line_numbers:
            frame[LINE] = line_numbers_of_rows()
        return frame

    text = pd.read_csv(io.BytesIO(raw), dtype=str, **options).fillna("")
    if header:
        repeat = _header_repeat(text, [c.name for c in cols])
        if repeat is not None:
            raise DataError(
                f"{path}:{int(line_numbers_of_rows()[repeat])}: repeats the header row "
                f"({', '.join(c.name for c in cols)}); were two files concatenated?"
            )
    found = _first_bad_value(text, cols)
    if found is None:
        raise DataError(f"{path}: could not parse columns {[c.name for c in cols]}")
    row, message = found
    raise DataError(f"{path}:{int(line_numbers_of_rows()[row])}: {message}")


def check_values(
    path: Path,
    frame: pd.DataFrame,
    cols: Sequence[Col],
    line_of_rows: Any,
    *,
    header: bool = False,
) -> None:
    """Checks of parsed columns that need their meaning: scale, clock, mojibake, a repeated header.

    ``line_of_rows()`` returns the 1-based line of every row (called only when a row is reported).
    Off-scale numbers, millisecond clocks and repeated headers raise ``DataError``; timestamps
    before ``Col.earliest`` and text that round-trips as UTF-8 read as latin-1 are warnings.
    """
    if header:
        names = [c.name for c in cols if c.kind == "str"]
        if names:
            repeat = _header_repeat(frame, names)
            if repeat is not None:
                raise DataError(
                    f"{path}:{int(line_of_rows()[repeat])}: repeats the header row "
                    f"({', '.join(c.name for c in cols)}); were two files concatenated?"
                )
    for col in cols:
        values = frame[col.name]
        if col.kind == "str":
            _check_mojibake(path, col.name, values, line_of_rows)
            continue
        number = values.to_numpy(dtype=np.float64)
        check_number_scale(path, col, number, lambda row: int(line_of_rows()[row]))


def check_number_scale(path: Path | str, col: Col, number: npt.NDArray[np.float64], line_of: Any) -> None:
    """``Col.low/high/step`` and ``Col.clock`` checks of one number column; ``line_of(row) -> int``."""
    present = ~np.isnan(number)
    if col.low is not None or col.high is not None:
        low = -np.inf if col.low is None else col.low
        high = np.inf if col.high is None else col.high
        bad = present & ((number < low) | (number > high))
        scale = f"[{col.low}, {col.high}]"
        if col.step is not None:
            steps = (number - (col.low or 0.0)) / col.step
            bad |= present & (np.abs(steps - np.round(steps)) > 1e-6)
            scale += f" in steps of {col.step}"
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}:{line_of(row)}: field {col.name!r} = {number[row]:g} is off the documented "
                f"scale {scale}; {int(bad.sum())} row(s) affected"
            )
    if col.clock:
        big = present & (np.abs(number) > MAX_UNIX_SECONDS)
        if big.any():
            row = int(np.flatnonzero(big)[0])
            raise DataError(
                f"{path}:{line_of(row)}: field {col.name!r} = {number[row]:.0f} is not unix seconds "
                f"(above {MAX_UNIX_SECONDS:.0e}: milliseconds or finer?); {int(big.sum())} row(s) affected"
            )
        if col.earliest is not None:
            early = present & (number < col.earliest)
            if early.any():
                row = int(np.flatnonzero(early)[0])
                logger.warning(
                    "%s:%d: field %r = %.0f lies before %s, earlier than the source's documented "
                    "period (a truncated value?); %d row(s) affected",
                    path,
                    line_of(row),
                    col.name,
                    number[row],
                    pd.Timestamp(col.earliest, unit="s").date(),
                    int(early.sum()),
                )


def _header_repeat(frame: pd.DataFrame, names: Sequence[str]) -> int | None:
    """The first row whose ``names`` columns hold exactly the column names (a pasted header), or None."""
    same = np.ones(len(frame), dtype=bool)
    for name in names:
        same &= (frame[name].astype(str).str.strip() == name).to_numpy(dtype=bool)
    hits = np.flatnonzero(same)
    return int(hits[0]) if len(hits) else None


def _check_mojibake(path: Path, name: str, values: pd.Series, line_of_rows: Any) -> None:
    """Warn about text that is UTF-8 decoded as latin-1/cp1252 (``CafÃ©``), checked by a round trip."""
    if values.empty:
        return
    candidates = np.flatnonzero(values.astype(str).str.contains(_MOJIBAKE, regex=True).to_numpy(dtype=bool))
    bad = [row for row in candidates.tolist() if _repaired(str(values.iloc[row])) is not None]
    if bad:
        row = bad[0]
        value = str(values.iloc[row])
        found = re.search(_MOJIBAKE, value)
        start = max((found.start() if found else 0) - 30, 0)
        snippet = value[start : start + 60]
        logger.warning(
            "%s:%d: field %r has %r, which looks like UTF-8 text decoded as latin-1 (as UTF-8: %r); "
            "%d value(s) affected: re-save the file from its real encoding",
            path,
            int(line_of_rows()[row]),
            name,
            snippet,
            _repaired(snippet) or snippet,
            len(bad),
        )


def _repaired(text: str) -> str | None:
    """``text`` re-encoded as cp1252 (else latin-1) and decoded as UTF-8, when that round trip works."""
    for codec in ("cp1252", "latin-1"):
        try:
            fixed = text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if fixed != text:
            return fixed
    return None


def _check_last_line(path: Path, raw: bytes) -> None:
    if raw.strip() and not raw.endswith(b"\n"):
        logger.warning(
            "%s:%d: the last line has no line end: the file may be truncated (its values passed the checks)",
            path,
            raw.count(b"\n") + 1,
        )


def pick_encoding(path: Path, raw: bytes, encodings: tuple[str, ...]) -> str:
    """The first of ``encodings`` that decodes ``raw``; else ``DataError`` naming the first bad line."""
    first_error: UnicodeDecodeError | None = None
    for enc in encodings:
        if enc.replace("-", "").replace("_", "").lower() in {"latin1", "iso88591", "l1"}:
            return enc  # every byte sequence decodes
        try:
            raw.decode(enc)
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
            continue
        if enc != encodings[0]:
            logger.info("%s is not valid %s; read it as %s", path, encodings[0], enc)
        return enc
    if first_error is None:
        raise ConfigError(f"encoding must name at least one text encoding, got {encodings!r}")
    line = raw.count(b"\n", 0, first_error.start) + 1
    raise DataError(
        f"{path}:{line}: bytes that are not valid {' or '.join(encodings)} "
        f"({first_error.reason} at byte {first_error.start}); pass the file's encoding"
    )


def _header_names(raw: bytes, sep: str, enc: str, quoted: bool) -> list[str]:
    end = raw.find(b"\n")
    first = (raw if end < 0 else raw[:end]).decode(enc).lstrip("\ufeff").rstrip("\r")
    if quoted:
        return next(csv.reader([first], delimiter=sep), [])
    return first.split(sep)


def _check_field_counts(
    path: Path, raw: bytes, sep: str, names: Sequence[str], header: bool
) -> npt.NDArray[np.int64]:
    """Check that every non-blank line has ``len(names)`` fields (unquoted files), vectorised.

    Blank lines (only spaces, tabs, carriage returns; the parser skips them) are allowed. Returns the
    1-based line number of every data row.
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    sep_byte = ord(sep)
    blank_chars = " \t\r".replace(sep, "")
    want = len(names) - 1
    start, line0 = 0, 1
    rows: list[npt.NDArray[np.int64]] = []
    while start < len(data):
        stop = min(start + _CHUNK, len(data))
        if stop < len(data):
            cut = raw.rfind(b"\n", start, stop)
            stop = cut + 1 if cut >= start else (raw.find(b"\n", stop) + 1 or len(data))
        chunk = data[start:stop]
        ends = np.flatnonzero(chunk == 10)
        if len(ends) == 0 or ends[-1] != len(chunk) - 1:
            ends = np.append(ends, len(chunk))  # a last line without a newline
        begins = np.concatenate([[0], ends[:-1] + 1])
        n_sep = np.diff(np.searchsorted(np.flatnonzero(chunk == sep_byte), np.append(begins, len(chunk) + 1)))
        content = np.ones(len(ends), dtype=bool)
        # blank lines have no separator (or the file has one column): only those need a closer look
        for k in np.flatnonzero((n_sep != want) | (ends - begins <= 1)).tolist():
            if not raw[start + begins[k] : start + ends[k]].decode("latin-1").strip(blank_chars):
                content[k] = False
        if header and line0 == 1:
            content[0] = False
        bad = content & (n_sep != want)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}:{line0 + k}: expected {len(names)} fields ({', '.join(names)}), found {n_sep[k] + 1}"
            )
        rows.append(line0 + np.flatnonzero(content).astype(np.int64))
        line0 += len(ends)
        start = stop
    return np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)


def _parser_error(path: Path, exc: Exception, names: Sequence[str]) -> DataError:
    text = str(exc)
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if match:
        want, line, saw = match.groups()
        return DataError(f"{path}:{line}: expected {want} fields ({', '.join(names)}), found {saw}")
    return DataError(f"{path}: {text}")


def _has_bad_value(frame: pd.DataFrame, cols: Sequence[Col]) -> bool:
    for col in cols:
        values = frame[col.name]
        if col.kind == "float" and col.required and not np.isfinite(values.to_numpy()).all():
            return True
        if col.kind == "str" and col.required and (values == "").any():
            return True
    return False


def _first_bad_value(text: pd.DataFrame, cols: Sequence[Col]) -> tuple[int, str] | None:
    """(row, message) of the earliest bad value in a frame read as text, or None."""
    best: tuple[int, str] | None = None
    for col in cols:
        values = text[col.name]
        empty = (values == "").to_numpy(dtype=bool)
        if col.kind == "int":
            bad = ~values.str.fullmatch(r"\s*[+-]?\d+\s*").to_numpy(dtype=bool)
            problem = "is not an integer"
        elif col.kind == "float":
            number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(number)
            if not col.required:
                bad &= ~empty
            problem = "is not a finite number"
        else:
            bad = empty if col.required else np.zeros(len(values), dtype=bool)
            problem = "is empty"
        hits = np.flatnonzero(bad)
        if len(hits) and (best is None or hits[0] < best[0]):
            row = int(hits[0])
            value = values.iloc[row]
            what = "is empty" if empty[row] and col.required else f"= {value!r} {problem}"
            best = (row, f"field {col.name!r} {what}")
    return best


def _quoted_records(raw: bytes, *, sep1: str, enc: str, header: bool) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of every non-blank data record of a quoted file."""
    blank = set(" \t\r") - {sep1}
    reader = csv.reader(io.StringIO(raw.decode(enc), newline=""), delimiter=sep1)
    start = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not record or (len(record) == 1 and set(record[0]) <= blank) or (header and line == 1):
            continue
        yield line, record


def _first_wrong_record(
    raw: bytes, *, sep1: str, enc: str, header: bool, n_fields: int
) -> tuple[int, int] | None:
    for line, record in _quoted_records(raw, sep1=sep1, enc=enc, header=header):
        if len(record) != n_fields:
            return line, len(record)
    return None


def _row_lines(raw: bytes, *, sep1: str, enc: str, header: bool, quoted: bool) -> npt.NDArray[np.int64]:
    """1-based first line of every data row, counted as the C parser counts rows (slow; error paths)."""
    if quoted:
        return np.array(
            [line for line, _ in _quoted_records(raw, sep1=sep1, enc=enc, header=header)], dtype=np.int64
        )
    text = raw.decode(enc)
    blank = set(" \t\r") - {sep1}
    out = [
        number
        for number, content in enumerate(text.split("\n"), start=1)
        if not (set(content) <= blank or (header and number == 1))
    ]
    return np.array(out, dtype=np.int64)


# ---------------------------------------------------------------------------------------- vocabularies
def as_ids(values: Any) -> npt.NDArray[np.object_]:
    """External ids as an object array of ``str``."""
    out = np.empty(len(values), dtype=object)
    out[:] = [str(v) for v in values]
    return out


def factorize(values: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Dense codes in order of first appearance, and the vocabulary as strings."""
    codes, uniques = pd.factorize(np.asarray(values))
    return codes.astype(np.int64), as_ids(uniques)


def union_vocab(
    first: Any, values: Any, *, path: Path | str, what: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_], int]:
    """Codes of ``values`` over the vocabulary ``first`` (unique, kept in order) + unseen values.

    Returns ``(codes, vocabulary, n_added)``; values absent from ``first`` are appended in order of
    first appearance (e.g. rated movies missing from the movie table) and counted in ``n_added``.
    """
    index = pd.Index(np.asarray(first))
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise DataError(f"{path}: {what} {dup!r} is listed more than once")
    codes = index.get_indexer(np.asarray(values)).astype(np.int64)
    missing = codes < 0
    n_added = 0
    vocab = as_ids(index)
    if missing.any():
        extra_codes, extra = pd.factorize(np.asarray(values)[missing])
        codes[missing] = len(index) + extra_codes
        n_added = len(extra)
        vocab = np.concatenate([vocab, as_ids(extra)])
    return codes, vocab, n_added


def positions(user: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Each row's 0-based position among its user's rows, in row order (the clock of ordered sources)."""
    order = np.argsort(user, kind="stable")
    sorted_user = user[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_user)) + 1]).astype(np.int64)
    counts = np.diff(np.concatenate([starts, [len(user)]]))
    pos = np.empty(len(user), dtype=np.float64)
    pos[order] = np.arange(len(user)) - np.repeat(starts, counts)
    return pos


def pad(values: np.ndarray, n: int, fill: object) -> np.ndarray:
    """Extend a per-item (or per-user) column to the full vocabulary of ``n`` with ``fill``.

    Vocabularies list the table's rows first, so the table's values come first.
    """
    if len(values) == n:
        return values
    out = np.full(n, fill, dtype=values.dtype)
    out[: len(values)] = values
    return out


def ordered_interactions(
    user: npt.NDArray[np.int64],
    item: npt.NDArray[np.int64],
    *,
    user_ids: npt.NDArray[np.object_],
    item_ids: npt.NDArray[np.object_],
    weight: npt.NDArray[np.float32] | None = None,
) -> Interactions:
    """Interactions of a source without a clock: the row order is time, ``timestamp`` = position."""
    n = len(user)
    return Interactions(
        user.astype(np.int64),
        item.astype(np.int64),
        positions(user.astype(np.int64)),
        np.ones(n, dtype=np.float32) if weight is None else weight.astype(np.float32),
        user_ids,
        item_ids,
        None,
        False,
    )


def last_two_split(data: Interactions, name: str) -> Split:
    """Leave-one-out as sources ship it: each user's last event is test, the one before valid.

    Users with two events have no training event, users with one only a test event.
    """
    order = data.chronological_order()
    users = data.user[order]
    n = len(order)
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = users[1:] != users[:-1]
    ends = np.flatnonzero(is_last)
    # rank from the end of the user's sequence: 0 = last event
    from_end = ends[np.searchsorted(ends, np.arange(n))] - np.arange(n)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = from_end
    return Split(data.select(rank >= 2), data.select(rank == 1), data.select(rank == 0), name=name)


def aggregate_tags(
    item: npt.NDArray[np.int64], tags: Any, n_items: int, *, separator: str = ", "
) -> npt.NDArray[np.object_]:
    """One string per item: its distinct tags, most frequent first (ties: first seen).

    Tags are compared after stripping whitespace and case-folding; the first spelling seen is kept.
    Empty tags are ignored.
    """
    frame = pd.DataFrame(
        {"item": np.asarray(item, dtype=np.int64), "tag": pd.Series(tags, dtype=str).str.strip()}
    )
    frame = frame[frame["tag"] != ""]
    out = np.full(n_items, "", dtype=object)
    if frame.empty:
        return out
    frame["key"] = frame["tag"].str.casefold()
    frame["row"] = np.arange(len(frame))
    groups = frame.groupby(["item", "key"], sort=False).agg(
        count=("row", "size"), first=("row", "min"), tag=("tag", "first")
    )
    groups = groups.reset_index().sort_values(["item", "count", "first"], ascending=[True, False, True])
    items = groups["item"].to_numpy(dtype=np.int64)
    names = groups["tag"].to_numpy(dtype=object)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(items)) + 1, [len(items)]])
    for start, stop in itertools.pairwise(bounds.tolist()):
        out[items[start]] = separator.join(names[start:stop])
    return out


def flatten(lists: Sequence[Sequence[str]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    """Lengths of ``lists`` and their concatenated elements (to pair elements with their row)."""
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    flat = np.empty(int(lengths.sum()), dtype=object)
    flat[:] = list(itertools.chain.from_iterable(lists))
    return lengths, flat
