"""Values that parse but are almost certainly wrong: refused where the source documents what is right,
warned about (with file and line) where it does not. Small files written to ``tmp_path``."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from explorec.data.loaders import load_movielens_100k, load_movielens_csv, load_table
from explorec.errors import ConfigError, DataError

MOVIES = 'movieId,title,genres\n1,Heat (1995),Action|Crime\n2,"Amélie (2001)",Comedy\n'
RATINGS_HEADER = "userId,movieId,rating,timestamp\n"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _movielens(tmp_path: Path, ratings: str, movies: str = MOVIES) -> Path:
    _write(tmp_path / "movies.csv", movies)
    _write(tmp_path / "ratings.csv", RATINGS_HEADER + ratings)
    return tmp_path


def test_a_rating_off_the_documented_scale_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = _movielens(tmp_path, "1,1,4.0,978300760\n1,2,47,978300761\n")
    with pytest.raises(DataError, match=r"ratings.csv:3: field 'rating' = 47 is off the documented scale"):
        load_movielens_csv(folder)


def test_a_rating_between_half_stars_is_refused(tmp_path: Path) -> None:
    folder = _movielens(tmp_path, "1,1,4.25,978300760\n")
    with pytest.raises(DataError, match=r"ratings.csv:2: .* in steps of 0.5"):
        load_movielens_csv(folder)


def test_whole_star_scale_of_movielens_100k(tmp_path: Path) -> None:
    _write(tmp_path / "u.genre", "unknown|0\nDrama|1\n")
    _write(tmp_path / "u.item", "1|Film (1990)|01-Jan-1990||http://x|0|1\n", "latin-1")
    _write(tmp_path / "u.user", "1|24|M|technician|85711\n")
    _write(tmp_path / "u.data", "1\t1\t3\t881250949\n1\t1\t3.5\t881250950\n")
    with pytest.raises(
        DataError, match=r"u.data:2: field 'rating' = 3.5 is off the documented scale \[1.0, 5.0\]"
    ):
        load_movielens_100k(tmp_path)


def test_millisecond_timestamps_are_refused(tmp_path: Path) -> None:
    folder = _movielens(tmp_path, "1,1,4.0,978300760\n1,2,3.0,978300760000\n")
    with pytest.raises(
        DataError, match=r"ratings.csv:3: field 'timestamp' = 978300760000 is not unix seconds"
    ):
        load_movielens_csv(folder)


def test_a_truncated_last_line_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the last line lost its end: four fields still, but the timestamp is cut to 1970
    folder = _movielens(tmp_path, "1,1,4.0,978300760\n1,2,3.0,97830")
    with caplog.at_level(logging.WARNING):
        dataset = load_movielens_csv(folder)
    assert len(dataset.interactions) == 2  # nothing dropped or rewritten
    text = caplog.text
    assert "ratings.csv:3: the last line has no line end: the file may be truncated" in text
    assert "ratings.csv:3: field 'timestamp' = 97830 lies before 1995-01-01" in text


def test_complete_files_raise_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _movielens(tmp_path, "1,1,4.0,978300760\n1,2,3.0,978300761\n")
    with caplog.at_level(logging.WARNING):
        load_movielens_csv(folder)
    assert caplog.text == ""


def test_latin1_resaved_as_utf8_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 'Amélie' written as UTF-8, read as latin-1 by some tool, and saved again as UTF-8
    mojibake = "Amélie (2001)".encode().decode("latin-1")
    movies = f'movieId,title,genres\n1,Heat (1995),Action\n2,"{mojibake}",Comedy\n'
    folder = _movielens(tmp_path, "1,1,4.0,978300760\n", movies=movies)
    with caplog.at_level(logging.WARNING):
        dataset = load_movielens_csv(folder)
    assert dataset.catalog.fields["title"][1] == mojibake  # kept verbatim, not rewritten
    assert "movies.csv:3: field 'title' has" in caplog.text
    assert "(as UTF-8: 'Amélie (2001)')" in caplog.text
    assert "1 value(s) affected" in caplog.text


def test_real_accents_are_not_mojibake(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _movielens(tmp_path, "1,2,4.0,978300760\n")  # MOVIES holds a correct 'Amélie'
    with caplog.at_level(logging.WARNING):
        load_movielens_csv(folder)
    assert "latin-1" not in caplog.text


def test_a_repeated_header_is_refused_not_read_as_a_user(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", "user,item\nu1,a\nu2,b\nuser,item\nu3,c\n")
    with pytest.raises(DataError, match=r"events.csv:4: repeats the header row \(user, item\)"):
        load_table(path, user_col="user", item_col="item")


def test_a_repeated_header_in_a_numeric_file(tmp_path: Path) -> None:
    folder = _movielens(tmp_path, "1,1,4.0,978300760\nuserId,movieId,rating,timestamp\n1,2,3.0,978300761\n")
    with pytest.raises(DataError, match=r"ratings.csv:3: repeats the header row"):
        load_movielens_csv(folder)


def test_tsv_is_read_as_tab_separated(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.tsv", "user\titem\tts\nu1\ta,b\t1700000000\nu2\tc\t1700000100\n")
    dataset = load_table(path, user_col="user", item_col="item", time_col="ts")
    assert list(dataset.interactions.item_ids) == ["a,b", "c"]
    assert dataset.interactions.timestamp.tolist() == [1700000000.0, 1700000100.0]


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".xlsx"])
def test_non_table_suffixes_are_refused(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"events{suffix}", '[{"user": "u1", "item": "a"}]\n')
    with pytest.raises(ConfigError, match=rf"events\{suffix}: a .* file is not a table explorec reads"):
        load_table(path, user_col="user", item_col="item")


def test_unknown_suffix_needs_an_explicit_separator(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.txt", "user;item\nu1;a\n")
    with pytest.raises(ConfigError, match="cannot tell the format"):
        load_table(path, user_col="user", item_col="item")
    assert load_table(path, user_col="user", item_col="item", sep=";").interactions.n_items == 1


def test_bad_timestamp_names_its_own_line_and_value(tmp_path: Path) -> None:
    # regression: reported as ':2: field 'ts' = '1700000000'' for a fault on line 4
    path = _write(tmp_path / "events.csv", "user,item,ts\nu1,a,1700000000\nu1,b,1700000100\nu2,a,yesterday\n")
    with pytest.raises(DataError, match=r"events.csv:4: field 'ts' = 'yesterday' is neither unix seconds"):
        load_table(path, user_col="user", item_col="item", time_col="ts")


def test_mixed_seconds_and_dates_are_refused(tmp_path: Path) -> None:
    text = "user,item,ts\nu1,a,2023-11-14T22:13:20\nu1,b,2023-11-14T22:15:00\nu2,a,1700000000\n"
    path = _write(tmp_path / "events.csv", text)
    with pytest.raises(DataError, match=r"events.csv:4: field 'ts' = '1700000000' mixes unix seconds"):
        load_table(path, user_col="user", item_col="item", time_col="ts")


def test_iso_dates_and_millisecond_clocks_in_a_table(tmp_path: Path) -> None:
    iso = _write(tmp_path / "iso.csv", "user,item,ts\nu1,a,2023-11-14T22:13:20Z\n")
    assert load_table(iso, user_col="user", item_col="item", time_col="ts").interactions.timestamp[0] == 1.7e9
    ms = _write(tmp_path / "ms.csv", "user,item,ts\nu1,a,1700000000\nu1,b,1700000000123\n")
    with pytest.raises(DataError, match=r"ms.csv:3: field 'ts' = 1700000000123 is not unix seconds"):
        load_table(ms, user_col="user", item_col="item", time_col="ts")


def test_rating_range_of_a_table(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", "user,item,stars\nu1,a,4\nu1,b,47\n")
    assert (
        load_table(path, user_col="user", item_col="item", rating_col="stars").interactions.rating is not None
    )
    with pytest.raises(
        DataError, match=r"events.csv:3: field 'stars' = 47 is off the documented scale \[1, 5\]"
    ):
        load_table(path, user_col="user", item_col="item", rating_col="stars", rating_range=(1, 5))


def test_duplicate_item_id_names_the_item_table_and_both_lines(tmp_path: Path) -> None:
    # regression: the message named the interactions file, without a line
    events = _write(tmp_path / "events.csv", "user,item\nu1,a\n")
    items = _write(tmp_path / "items.csv", "item,title\na,Apple\nb,Banana\na,Avocado\n")
    with pytest.raises(
        DataError, match=r"items.csv:4: item id 'a' is listed again \(first at .*items.csv:2\)"
    ):
        load_table(events, user_col="user", item_col="item", item_table=items, text_cols=["title"])


def test_parquet_rows_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame({"user": ["u1", "u2"], "item": ["a", "b"], "ts": [1700000000, 1700000000123]}).to_parquet(
        path
    )
    with pytest.raises(
        DataError, match=r"events.parquet: row 2: field 'ts' = 1700000000123 is not unix seconds"
    ):
        load_table(path, user_col="user", item_col="item", time_col="ts")
