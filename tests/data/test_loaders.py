"""Loaders of native formats: real files (read in place) and small files written here, good and bad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorec.data.interactions import Dataset
from explorec.data.loaders import (
    Col,
    load_atomic,
    load_lastfm_hetrec,
    load_lastfm_recbole,
    load_movielens_100k,
    load_movielens_csv,
    load_movielens_dat,
    load_s3rec,
    load_table,
    load_unisrec,
    read_atomic,
    read_delimited,
    read_sequences,
    title_year,
)
from explorec.errors import DataError


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------------------------------ real datasets
@pytest.fixture(scope="module")
def ml100k(datasets_dir: Path) -> Dataset:
    return load_movielens_100k(datasets_dir / "ml-100k")


@pytest.fixture(scope="module")
def scientific(datasets_dir: Path) -> Dataset:
    return load_unisrec(datasets_dir / "amazon-scientific", "Scientific", name="amazon-scientific")


def test_movielens_100k_counts_and_first_row(ml100k: Dataset) -> None:
    data = ml100k.interactions
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1682)
    assert data.has_timestamps and data.rating is not None
    # first line of u.data: "196\t242\t3\t881250949"
    assert (data.user_ids[data.user[0]], data.item_ids[data.item[0]]) == ("196", "242")
    assert (data.rating[0], data.timestamp[0], data.weight[0]) == (3.0, 881250949.0, 1.0)
    assert data.item_ids[0] == "1" and data.user_ids[0] == "1"  # catalogue / user table order


def test_movielens_100k_catalog_latin1_and_users(ml100k: Dataset) -> None:
    catalog = ml100k.catalog
    item = int(ml100k.interactions.item_index(["543"])[0])
    assert catalog.fields["title"][item] == "Misérables, Les (1995)"
    assert catalog.fields["genres"][item] == "Drama, Musical"
    assert catalog.attributes["year"][item] == 1995.0
    assert catalog.fields["genres"][0] == "Animation, Children's, Comedy"  # Toy Story
    unknown = int(ml100k.interactions.item_index(["267"])[0])  # title "unknown", no date
    assert np.isnan(catalog.attributes["year"][unknown])
    assert np.isnan(catalog.attributes["year"]).sum() == 1
    features = ml100k.user_features
    first = int(ml100k.interactions.user_index(["1"])[0])
    assert (features["age"][first], features["gender"][first], features["occupation"][first]) == (
        24,
        "M",
        "technician",
    )
    assert features["age"].dtype == np.int64 and len(features["zip"]) == 943


def test_movielens_latest_small(datasets_dir: Path) -> None:
    dataset = load_movielens_csv(datasets_dir / "ml-latest-small")
    data, catalog = dataset.interactions, dataset.catalog
    assert (len(data), data.n_users, data.n_items) == (100_836, 610, 9742)
    # 9,724 rated movies: the other 18 stay in the catalogue as cold items
    assert int((data.item_counts() == 0).sum()) == 18
    assert (data.rating.min(), data.rating.max()) == (0.5, 5.0)  # type: ignore[union-attr]
    index = data.item_index(["1", "7789", "60756"])
    assert catalog.fields["title"][index[1]] == "11'09\"01 - September 11 (2002)"  # RFC-4180 quoted
    assert catalog.fields["genres"][index[0]] == "Adventure, Animation, Children, Comedy, Fantasy"
    assert catalog.fields["tags"][index[0]] == "pixar, fun"
    # user 2 tagged 60756 "funny", "Highly quotable", "will ferrell"; others added more
    assert catalog.fields["tags"][index[2]] == "funny, will ferrell, Highly quotable, comedy"
    assert int((catalog.fields["genres"] == "").sum()) == 34  # "(no genres listed)"
    assert int(np.isnan(catalog.attributes["year"]).sum()) == 12


def test_amazon_scientific_counts_and_text(scientific: Dataset) -> None:
    data = scientific.interactions
    assert (data.n_users, data.n_items) == (8442, 4385)
    # 34,101 training lines + per user: the first history item, the valid and the test target
    # (SOURCE.md's 59,384 rebuilds from the test lines, whose histories are capped at 50 items)
    assert len(data) == 34_101 + 3 * 8442 == 59_427
    assert not data.has_timestamps
    assert data.item_ids[0] == "B00TNNWMXI" and data.user_ids[0] == "ABW8NXS7SV55K"
    item = int(data.item_index(["B0000223SI"])[0])
    text = scientific.catalog.fields["text"][item]
    assert text.startswith("PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit")
    assert text.endswith("Sanding Rolls. PORTER-CABLE.")
    assert (scientific.catalog.fields["text"] != "").all()


def _lines(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]


def test_amazon_scientific_split_matches_files(scientific: Dataset, datasets_dir: Path) -> None:
    split = scientific.split
    assert split is not None
    assert split.summary() == {
        "train": 42_543,
        "valid": 8442,
        "test": 8442,
        "test_users": 8442,
        "cold_items": 0,
    }
    data = scientific.interactions
    folder = datasets_dir / "amazon-scientific"
    for part in ("valid", "test"):
        rows = _lines(folder / f"Scientific.{part}.inter")
        inter = getattr(split, part)
        target = dict(zip(inter.user.tolist(), inter.item.tolist(), strict=True))
        # the internal indices are the files' integer ids
        assert all(target[int(u)] == int(i) for u, _, i in rows)
    # the training targets are exactly the train file's targets (each user's history minus one item)
    train_pairs = sorted((int(u), int(i)) for u, _, i in _lines(folder / "Scientific.train.inter"))
    sequences = split.train.sequences()
    rebuilt = sorted((u, int(i)) for u, seq in enumerate(sequences) for i in seq[1:])
    assert rebuilt == train_pairs
    # the test line's history is the last 50 items before the test item
    test_rows = _lines(folder / "Scientific.test.inter")
    full = data.sequences()
    assert all(full[int(u)][:-1][-50:].tolist() == [int(x) for x in h.split()] for u, h, _ in test_rows)
    capped = sum(len(h.split()) + 1 for _, h, _ in test_rows)
    assert capped == 59_384 and len(data) - capped == 43


def test_s3rec_sequences(datasets_dir: Path) -> None:
    folder = datasets_dir / "amazon-s3rec-sequences"
    expected = {
        "Beauty": (22_363, 12_101, 198_502, 637),
        "Sports_and_Outdoors": (35_598, 18_357, 296_337, 2277),
        "Toys_and_Games": (19_412, 11_924, 167_597, 1027),
    }
    for prefix, (n_users, n_items, n, n_attributes) in expected.items():
        dataset = load_s3rec(folder, prefix)
        data = dataset.interactions
        assert (data.n_users, data.n_items, len(data)) == (n_users, n_items, n)
        assert not data.has_timestamps
        attributes = {a for v in dataset.catalog.fields["attributes"] for a in v.split()}
        assert len(attributes) == n_attributes
        assert dataset.split is not None
        assert (len(dataset.split.test), len(dataset.split.valid)) == (n_users, n_users)
        assert len(dataset.split.train) == n - 2 * n_users
        if prefix == "Beauty":
            beauty = dataset
    first = beauty.interactions.sequences()[0]
    assert beauty.interactions.user_ids[0] == "1"
    assert beauty.interactions.item_ids[first].tolist() == ["1", "2", "3", "4", "5"]  # line "1 1 2 3 4 5"
    assert beauty.split.test.item_ids[beauty.split.test.item[0]] == "5"  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def lastfm(datasets_dir: Path) -> Dataset:
    return load_lastfm_hetrec(datasets_dir / "lastfm-hetrec-2k")


def test_lastfm_hetrec(lastfm: Dataset) -> None:
    dataset = lastfm
    data, catalog = dataset.interactions, dataset.catalog
    assert (len(data), data.n_users, data.n_items) == (92_834, 1892, 17_632)
    assert not data.has_timestamps and data.rating is None
    assert (data.user_ids[data.user[0]], data.item_ids[data.item[0]], data.weight[0]) == ("2", "51", 13883.0)
    assert data.timestamp[:3].tolist() == [0.0, 1.0, 2.0]  # position within the user's rows
    index = data.item_index(["1", "51"])
    assert catalog.fields["name"][index[0]] == "MALICE MIZER"
    assert catalog.fields["tags"][index[1]].startswith("new wave, 80s, new romantic")
    assert int((catalog.fields["tags"] != "").sum()) == 6854


def test_lastfm_recbole_export_reads_timestamp_as_weight(lastfm: Dataset, datasets_dir: Path) -> None:
    hetrec = lastfm.interactions
    export = load_lastfm_recbole(datasets_dir / "lastfm-hetrec-2k" / "recbole_format")
    data = export.interactions
    assert not data.has_timestamps
    np.testing.assert_array_equal(data.weight, hetrec.weight)
    np.testing.assert_array_equal(data.item_ids[data.item], hetrec.item_ids[hetrec.item])
    np.testing.assert_array_equal(data.user_ids[data.user], hetrec.user_ids[hetrec.user])
    assert sorted(export.catalog.fields) == ["name", "picture_url", "tags", "url"]


# ------------------------------------------------------------------------------- small MovieLens files
def test_movielens_dat_latin1_cold_items_and_tags(tmp_path: Path) -> None:
    _write(
        tmp_path / "movies.dat",
        "10::Misérables, Les (1995)::Drama|Musical\n20::Cold One (2001)::Comedy\n",
        "latin-1",
    )
    _write(tmp_path / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    _write(tmp_path / "ratings.dat", "2::10::5::978300760\n1::30::3::978300000\n\n1::10::4::978301000\n")
    _write(tmp_path / "tags.dat", "1::10::Paris::1\n2::10::musical::2\n2::10::paris::3\n1::20:: ::4\n")
    dataset = load_movielens_dat(tmp_path)
    data, catalog = dataset.interactions, dataset.catalog
    assert data.item_ids.tolist() == ["10", "20", "30"]  # table order, then the unlisted rated movie
    assert data.user_ids.tolist() == ["1", "2"]  # users.dat order
    assert data.item_counts().tolist() == [2, 0, 1]  # "20" is a cold item
    assert data.rating.tolist() == [5.0, 3.0, 4.0]  # type: ignore[union-attr]
    assert catalog.fields["title"].tolist() == ["Misérables, Les (1995)", "Cold One (2001)", ""]
    assert catalog.fields["genres"].tolist() == ["Drama, Musical", "Comedy", ""]
    assert catalog.fields["tags"].tolist() == ["Paris, musical", "", ""]  # case-folded, by frequency
    np.testing.assert_array_equal(catalog.attributes["year"], [1995.0, 2001.0, np.nan])
    assert dataset.user_features["gender"].tolist() == ["F", "M"]
    assert dataset.user_features["age"].tolist() == [1, 56]


def test_movielens_csv_quoting_and_vocabulary(tmp_path: Path) -> None:
    _write(
        tmp_path / "movies.csv",
        'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n'
        '2,"Quote ""Me"" (2000)",(no genres listed)\n3,Babylon 5,Sci-Fi\n',
    )
    _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n7,2,4.5,100\n5,1,3.0,50\n7,1,0.5,75\n")
    dataset = load_movielens_csv(tmp_path, name="tiny")
    data, catalog = dataset.interactions, dataset.catalog
    assert data.user_ids.tolist() == ["7", "5"]
    assert catalog.fields["title"].tolist()[:2] == ["American President, The (1995)", 'Quote "Me" (2000)']
    assert catalog.fields["genres"].tolist() == ["Comedy, Drama, Romance", "", "Sci-Fi"]
    assert "tags" not in catalog.fields
    assert data.item_counts().tolist() == [2, 1, 0]
    np.testing.assert_array_equal(data.timestamp, [100.0, 50.0, 75.0])


def test_title_year() -> None:
    years = title_year(["Toy Story (1995)", "Babylon 5", "Death Note: Desu nôto (2006–2007)", "X (1999) "])
    np.testing.assert_array_equal(years, [1995.0, np.nan, 2006.0, 1999.0])


# ------------------------------------------------------------------------------------- bad input
def _ml100k_folder(tmp_path: Path, data: str) -> Path:
    _write(tmp_path / "u.genre", "unknown|0\nDrama|1\n\n")
    _write(tmp_path / "u.item", "1|Film (1990)|01-Jan-1990||http://x|0|1\n", "latin-1")
    _write(tmp_path / "u.user", "1|24|M|technician|85711\n")
    _write(tmp_path / "u.data", data)
    return tmp_path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "1\t1\t3\t881250949\n1\t1\t4\n",
            r"u\.data:2: expected 4 fields \(user, item, rating, timestamp\), found 3",
        ),
        ("1\t1\t3\t881250949\n\n1\t1\t4\t5\t6\n", r"u\.data:3: expected 4 fields .*found 5"),
        (
            "1\t1\t3\t881250949\n1\t1\tx\t881250949\n",
            r"u\.data:2: field 'rating' = 'x' is not a finite number",
        ),
        (
            "1\t1\t3\t881250949\n\n\n1\t1\t3\tlater\n",
            r"u\.data:4: field 'timestamp' = 'later' is not an integer",
        ),
        ("1\t1\t3\t881250949\n1\t\t3\t881250949\n", r"u\.data:2: field 'item' is empty"),
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, data: str, message: str) -> None:
    folder = _ml100k_folder(tmp_path, data)
    with pytest.raises(DataError, match=message):
        load_movielens_100k(folder)


def test_good_tiny_100k_folder(tmp_path: Path) -> None:
    dataset = load_movielens_100k(_ml100k_folder(tmp_path, "1\t1\t3\t881250949\n1\t2\t4\t881250950\n"))
    assert dataset.interactions.item_ids.tolist() == ["1", "2"]
    assert dataset.catalog.fields["genres"].tolist() == ["Drama", ""]


def test_csv_errors_count_lines_across_quoted_newlines(tmp_path: Path) -> None:
    _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,10\n")
    _write(tmp_path / "movies.csv", 'movieId,title,genres\n1,"Two\nLines (1990)",Drama\nx,Bad (1991),Drama\n')
    with pytest.raises(DataError, match=r"movies\.csv:4: field 'movieId' = 'x' is not an integer"):
        load_movielens_csv(tmp_path)
    _write(
        tmp_path / "movies.csv", 'movieId,title,genres\n1,"Two\nLines (1990)",Drama\n2,"Extra",Drama,oops\n'
    )
    with pytest.raises(DataError, match=r"movies\.csv:4: expected 3 fields"):
        load_movielens_csv(tmp_path)
    _write(tmp_path / "movies.csv", 'movieId,title,genres\n1,"Two\nLines (1990)",Drama\n2,"Short (1992)"\n')
    with pytest.raises(DataError, match=r"movies\.csv:4: field 'genres' is empty"):
        load_movielens_csv(tmp_path)


def test_csv_bad_timestamp_and_missing_column(tmp_path: Path) -> None:
    _write(tmp_path / "movies.csv", "movieId,title,genres\n1,A (1990),Drama\n")
    _write(
        tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,1,4.0,11\n2,1,3.5,soon\n"
    )
    with pytest.raises(DataError, match=r"ratings\.csv:4: field 'timestamp' = 'soon'"):
        load_movielens_csv(tmp_path)
    _write(tmp_path / "ratings.csv", "userId,movieId,stars,timestamp\n1,1,4.0,10\n")
    with pytest.raises(
        DataError,
        match=r"missing column\(s\) \['rating'\]; columns found: \['userId', 'movieId', 'stars', 'timestamp'",
    ):
        load_movielens_csv(tmp_path)


def test_dat_and_encoding_errors(tmp_path: Path) -> None:
    _write(tmp_path / "movies.dat", "1::A (1990)::Drama\n")
    _write(tmp_path / "ratings.dat", "1::1::5::978300760\n1::1::5\n")
    with pytest.raises(DataError, match=r"ratings\.dat:2: expected 4 fields"):
        load_movielens_dat(tmp_path)
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"a\tb\n1\tok\n2\t\xe9t\xe9\n")
    with pytest.raises(DataError, match=r"bad\.tsv:3: bytes that are not valid utf-8"):
        read_delimited(path, [Col("a", "int"), Col("b")], header=True)
    frame = read_delimited(path, [Col("a", "int"), Col("b")], header=True, encoding=("utf-8", "latin-1"))
    assert frame["b"].tolist() == ["ok", "été"]


def test_read_delimited_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.tsv", "a\tb\n1\t2\n\n  \n3\t4\n")
    frame = read_delimited(path, [Col("b", "float"), Col("a", "int")], header=True, line_numbers=True)
    assert frame.columns.tolist() == ["b", "a", "__line__"]
    assert frame["__line__"].tolist() == [2, 5]
    assert frame["a"].tolist() == [1, 3]


def test_read_delimited_crlf_bom_and_chunked_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explorec.data.formats import common

    monkeypatch.setattr(common, "_CHUNK", 16)  # force many chunks, lines crossing chunk borders
    body = "".join(f"{k},item{k},{k / 2}\r\n" for k in range(40))
    path = _write(tmp_path / "x.csv", "\ufeffuser,item,score\r\n" + body)
    cols = [Col("user", "int"), Col("item"), Col("score", "float")]
    frame = read_delimited(path, cols, sep=",", header=True, line_numbers=True)
    assert frame["user"].tolist() == list(range(40)) and frame["item"].iloc[-1] == "item39"
    assert frame["__line__"].tolist() == list(range(2, 42))
    _write(path, "user,item,score\r\n" + body + "\r\n40,item40\r\n")
    with pytest.raises(DataError, match=r"x\.csv:43: expected 3 fields \(user, item, score\), found 2"):
        read_delimited(path, cols, sep=",", header=True)


# ------------------------------------------------------------------------------------ atomic files
def _unisrec(folder: Path, train: str, valid: str, test: str) -> None:
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    for part, body in (("train", train), ("valid", valid), ("test", test)):
        _write(folder / f"T.{part}.inter", header + body)
    _write(folder / "T.item2index", "A0\t0\nA1\t1\nA2\t2\nA3\t3\nA4\t4\n")
    _write(folder / "T.user2index", "U0\t0\nU1\t1\n")
    _write(
        folder / "T.text", "item_id:token\ttext:token_seq\nA0\tZero. Toys. Acme. \nA3\tThree. Toys. Acme. \n"
    )


def test_unisrec_rebuild_and_split(tmp_path: Path) -> None:
    # user 0: 0 1 2 3 4 (train lines newest first); user 1: 4 2 1 (no train line besides the first)
    _unisrec(
        tmp_path, "0\t0 1\t2\n0\t0\t1\n1\t4\t2\n", "0\t0 1 2\t3\n1\t4 2\t1\n", "0\t0 1 2 3\t4\n1\t4 2 1\t0\n"
    )
    dataset = load_unisrec(tmp_path, "T")
    data = dataset.interactions
    assert data.user_ids.tolist() == ["U0", "U1"] and data.item_ids.tolist() == ["A0", "A1", "A2", "A3", "A4"]
    assert [s.tolist() for s in data.sequences()] == [[0, 1, 2, 3, 4], [4, 2, 1, 0]]
    split = dataset.split
    assert split is not None
    assert [s.tolist() for s in split.train.sequences()] == [[0, 1, 2], [4, 2]]
    assert split.valid.item.tolist() == [3, 1] and split.test.item.tolist() == [4, 0]
    assert dataset.catalog.fields["text"].tolist() == ["Zero. Toys. Acme.", "", "", "Three. Toys. Acme.", ""]


def test_unisrec_capped_histories_keep_the_oldest_items(tmp_path: Path) -> None:
    # lists capped at 2 items: user 0's full sequence 0 1 2 3 4 is longer than the test line shows
    _unisrec(tmp_path, "0\t1 2\t3\n0\t0 1\t2\n0\t0\t1\n", "0\t2 3\t4\n", "0\t3 4\t0\n")
    dataset = load_unisrec(tmp_path, "T")
    assert [s.tolist() for s in dataset.interactions.sequences()] == [[0, 1, 2, 3, 4, 0], []]
    assert dataset.interactions.timestamp.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    _unisrec(tmp_path, "0\t0 2\t3\n0\t0 1\t2\n0\t0\t1\n", "0\t2 3\t4\n", "0\t3 4\t0\n")
    with pytest.raises(
        DataError, match=r"T\.train\.inter:2: item_id_list of user '0' does not match the 2 items"
    ):
        load_unisrec(tmp_path, "T")


def test_unisrec_inconsistent_history_is_an_error(tmp_path: Path) -> None:
    _unisrec(tmp_path, "0\t0 1\t2\n0\t0\t1\n", "0\t0 1 2\t3\n", "0\t0 9 2 3\t4\n")
    with pytest.raises(DataError, match=r"T\.test\.inter:2: item_id_list of user '0' does not match"):
        load_unisrec(tmp_path, "T")


def test_read_atomic_types_and_errors(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "x.inter",
        "user_id:token\titem_id:token\tscore:float\ttags:token_seq\tvec:float_seq\n"
        "u1\ti1\t1.5\ta b\t1 2\nu2\ti2\t\t\t\n",
    )
    table = read_atomic(path)
    assert table.types == {
        "user_id": "token",
        "item_id": "token",
        "score": "float",
        "tags": "token_seq",
        "vec": "float_seq",
    }
    assert table.frame["tags"].tolist() == [["a", "b"], []]
    assert table.frame["vec"].iloc[0].tolist() == [1.0, 2.0]
    assert np.isnan(table.frame["score"].iloc[1])
    _write(path, "user_id:token\titem_id:token\tscore:float\nu1\ti1\t\nu2\ti2\thigh\n")
    with pytest.raises(DataError, match=r"x\.inter:3: field 'score:float' = 'high'"):
        read_atomic(path)
    _write(path, "user_id\titem_id:token\nu1\ti1\n")
    with pytest.raises(DataError, match=r"x\.inter:1: column 'user_id' needs a type suffix"):
        read_atomic(path)


def test_load_atomic_with_item_file(tmp_path: Path) -> None:
    _write(
        tmp_path / "d.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\nu1\ti2\t4\t20\nu2\ti9\t2\t10\n",
    )
    _write(
        tmp_path / "d.item",
        "item_id:token\ttitle:token_seq\tprice:float\ni1\tOne Way\t1.5\ni2\tTwo\t\n",
    )
    _write(tmp_path / "d.user", "user_id:token\tage:float\tjob:token\nu0\t30\tcook\nu2\t\tpoet\n")
    dataset = load_atomic(tmp_path, "d")
    data = dataset.interactions
    assert data.item_ids.tolist() == ["i1", "i2", "i9"] and data.has_timestamps
    assert data.user_ids.tolist() == ["u0", "u2", "u1"]
    assert data.rating.tolist() == [4.0, 2.0]  # type: ignore[union-attr]
    assert dataset.catalog.fields["title"].tolist() == ["One Way", "Two", ""]  # a token_seq stays verbatim
    assert dataset.user_features["job"].tolist() == ["cook", "poet", ""]
    np.testing.assert_array_equal(dataset.user_features["age"], [30.0, np.nan, np.nan])
    np.testing.assert_array_equal(dataset.catalog.attributes["price"], [1.5, np.nan, np.nan])


# ------------------------------------------------------------------------------------------- S3-Rec
def test_s3rec_small_and_errors(tmp_path: Path) -> None:
    _write(tmp_path / "S.txt", "1 3 1 2\n\n2 2 3\n")
    _write(tmp_path / "S_item2attributes.json", json.dumps({"1": [7, 8], "4": [9]}))
    dataset = load_s3rec(tmp_path, "S")
    data = dataset.interactions
    assert data.item_ids.tolist() == ["1", "2", "3", "4"]  # ascending id; "4" only has attributes
    assert [data.item_ids[s].tolist() for s in data.sequences()] == [["3", "1", "2"], ["2", "3"]]
    assert data.timestamp.tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]
    assert dataset.catalog.fields["attributes"].tolist() == ["7 8", "", "", "9"]
    split = dataset.split
    assert split is not None
    assert (len(split.train), split.valid.item.tolist(), split.test.item.tolist()) == (1, [0, 1], [1, 2])
    _write(tmp_path / "S.txt", "1 3 1 2\n2 2 x\n")
    with pytest.raises(DataError, match=r"S\.txt:2: item id 'x' is not an integer"):
        read_sequences(tmp_path / "S.txt")
    _write(tmp_path / "S.txt", "1 3 1 2\n\n1 2 3\n")
    with pytest.raises(DataError, match=r"S\.txt:3: user '1' already has a sequence at line 1"):
        read_sequences(tmp_path / "S.txt")


# ------------------------------------------------------------------------------------ generic tables
def test_load_table_csv_with_item_table(tmp_path: Path) -> None:
    _write(
        tmp_path / "events.csv",
        "uid,sku,when,stars\nu1,b,2024-01-02T00:00:00Z,5\nu2,a,2024-01-01,3\nu1,z,2024-01-03T00:00:00+01:00,4\n",
    )
    _write(
        tmp_path / "items.csv", 'sku,name,desc,price\na,Alpha,"first, best",1.5\nb,Beta,,2\nc,Gamma,cold,\n'
    )
    dataset = load_table(
        tmp_path / "events.csv",
        user_col="uid",
        item_col="sku",
        time_col="when",
        rating_col="stars",
        item_table=tmp_path / "items.csv",
        text_cols=["name", "desc"],
        attribute_cols=["price"],
    )
    data, catalog = dataset.interactions, dataset.catalog
    assert dataset.name == "events"
    assert data.item_ids.tolist() == ["a", "b", "c", "z"]
    assert data.timestamp.tolist() == [1704153600.0, 1704067200.0, 1704236400.0]
    assert data.rating.tolist() == [5.0, 3.0, 4.0] and data.weight.tolist() == [1.0, 1.0, 1.0]  # type: ignore[union-attr]
    assert catalog.fields["desc"].tolist() == ["first, best", "", "cold", ""]
    np.testing.assert_array_equal(catalog.attributes["price"], [1.5, 2.0, np.nan, np.nan])


def test_load_table_errors_and_parquet(tmp_path: Path) -> None:
    _write(tmp_path / "e.tsv", "uid\tsku\tplays\nu1\ta\t3\nu2\tb\tmany\n")
    with pytest.raises(DataError, match=r"e\.tsv:3: field 'plays' = 'many'"):
        load_table(tmp_path / "e.tsv", user_col="uid", item_col="sku", weight_col="plays", sep="\t")
    with pytest.raises(
        DataError, match=r"missing column\(s\) \['user'\]; columns found: \['uid', 'sku', 'plays'\]"
    ):
        load_table(tmp_path / "e.tsv", user_col="user", item_col="sku", sep="\t")
    frame = pd.DataFrame({"uid": ["u1", "u1", "u2"], "sku": ["a", "b", "a"], "plays": [3.0, 1.0, 2.0]})
    frame.to_parquet(tmp_path / "e.parquet")
    dataset = load_table(tmp_path / "e.parquet", user_col="uid", item_col="sku", weight_col="plays")
    data = dataset.interactions
    assert not data.has_timestamps and data.timestamp.tolist() == [0.0, 1.0, 0.0]
    assert data.weight.tolist() == [3.0, 1.0, 2.0]
    frame.loc[1, "sku"] = None
    frame.to_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError, match=r"e\.parquet: row 2: field 'sku' is empty"):
        load_table(tmp_path / "e.parquet", user_col="uid", item_col="sku")
