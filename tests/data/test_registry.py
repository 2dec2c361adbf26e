"""The dataset registry: names, folders, errors, and the checked download (via file:// URLs only)."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path

import pytest

from explorec.data import registry
from explorec.data.registry import (
    DATASETS,
    DatasetSpec,
    download,
    fetch,
    list_datasets,
    load_dataset,
    missing_files,
)
from explorec.errors import ConfigError, DataError

BRIEF_NAMES = {
    "synthetic",
    "movielens-100k",
    "movielens-latest-small",
    "amazon-scientific",
    "amazon-beauty",
    "amazon-sports",
    "amazon-toys",
    "lastfm-hetrec-2k",
}


def test_registered_names_and_public_urls() -> None:
    assert BRIEF_NAMES <= set(DATASETS)
    public = {name for name, spec in DATASETS.items() if spec.url}
    assert public == {"movielens-100k", "movielens-latest-small"}
    assert DATASETS["movielens-100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert DATASETS["movielens-latest-small"].url == (
        "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
    )


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset 'ml-1m'; known datasets: .*amazon-scientific"):
        load_dataset("ml-1m")


def test_every_file_dataset_is_present_in_the_shared_folder(datasets_dir: Path) -> None:
    rows = {row["name"]: row for row in list_datasets(datasets_dir)}
    assert set(rows) == set(DATASETS)
    assert all(row["available"] for row in rows.values())
    assert rows["amazon-beauty"]["folder"] == str(datasets_dir / "amazon-s3rec-sequences")


def test_load_dataset_reads_env_data_dir(datasets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(datasets_dir))
    dataset = load_dataset("amazon-toys")
    assert dataset.name == "amazon-toys"
    assert (dataset.interactions.n_users, dataset.interactions.n_items) == (19_412, 11_924)
    scientific = load_dataset("amazon-scientific", data_dir=datasets_dir)
    assert scientific.split is not None and len(scientific.split.test) == 8442
    assert scientific.catalog.fields["text"][0].startswith("eSUN Bronze filament")


def test_missing_folder_names_path_and_expected_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"expects u\.data, u\.item, u\.genre, u\.user in .*ml-100k"):
        load_dataset("movielens-100k", data_dir=tmp_path)
    (tmp_path / "lastfm-hetrec-2k").mkdir()
    (tmp_path / "lastfm-hetrec-2k" / "artists.dat").write_text("id\tname\turl\tpictureURL\n")
    with pytest.raises(FileNotFoundError, match=r"missing: user_artists\.dat.*no public download"):
        load_dataset("lastfm-hetrec-2k", data_dir=tmp_path)
    assert [p.name for p in missing_files("lastfm-hetrec-2k", tmp_path)] == ["user_artists.dat"]


def test_synthetic_needs_no_files(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic", data_dir=tmp_path / "nowhere", n_users=30, n_items=40, seed=1)
    assert dataset.name == "synthetic"
    assert dataset.interactions.n_users == 30 and dataset.interactions.n_items == 40


def test_no_download_for_licensed_datasets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'amazon-scientific' has no public download; downloadable: "):
        download("amazon-scientific", tmp_path)


# ----------------------------------------------------------------------------------------- download
def _archive(tmp_path: Path, lines: str = "1 1 2 3\n2 2 3 1\n") -> Path:
    path = tmp_path / "src" / "tiny.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny/Tiny.txt", lines)
    return path


def _spec(url: str, sha256: str | None = None) -> DatasetSpec:
    return DatasetSpec(
        "tiny",
        "explorec.data.formats.s3rec:load_s3rec",
        "tiny",
        ("Tiny.txt",),
        "three-item test sequences",
        options={"prefix": "Tiny"},
        url=url,
        sha256=sha256,
    )


def test_fetch_checks_sha256(tmp_path: Path) -> None:
    source = _archive(tmp_path)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert fetch(source.as_uri(), tmp_path / "a.zip", sha256=digest) == digest
    assert (tmp_path / "a.zip").read_bytes() == source.read_bytes()
    with pytest.raises(
        DataError, match=r"sha256 .* does not match 0+ \(from the registry\); download removed"
    ):
        fetch(source.as_uri(), tmp_path / "b.zip", sha256="0" * 64)
    assert not (tmp_path / "b.zip").exists() and not (tmp_path / "b.zip.part").exists()


def test_download_records_unknown_hash_then_verifies_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source = _archive(tmp_path)
    monkeypatch.setitem(DATASETS, "tiny", _spec(source.as_uri()))
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="explorec.data.registry"):
        folder = download("tiny", cache)
    assert folder == cache / "tiny" and (folder / "Tiny.txt").is_file()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    record = cache / "downloads" / "tiny.zip.sha256"
    assert record.read_text().split()[0] == digest
    assert f"no known sha256; observed {digest}" in caplog.text
    dataset = load_dataset("tiny", data_dir=cache)
    assert dataset.name == "tiny" and len(dataset.interactions) == 6

    _archive(tmp_path, lines="1 1 2 3\n2 3 2 1\n")  # the server now serves other bytes
    with pytest.raises(DataError, match=rf"does not match {digest} \(from .*tiny\.zip\.sha256\)"):
        download("tiny", cache, force=True)
    assert load_dataset("tiny", data_dir=cache).interactions.item[3] == 1  # the verified copy is kept


def test_download_with_registry_hash_and_load_with_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _archive(tmp_path)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setitem(DATASETS, "tiny", _spec(source.as_uri(), sha256=digest))
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match=r"download=True"):
        load_dataset("tiny", data_dir=cache)
    dataset = load_dataset("tiny", data_dir=cache, download=True)
    assert dataset.interactions.n_users == 2
    assert not (cache / "downloads" / "tiny.zip.sha256").exists()  # a known hash needs no record
    monkeypatch.setitem(DATASETS, "tiny", _spec(source.as_uri(), sha256="f" * 64))
    with pytest.raises(DataError, match=r"tiny\.zip: sha256 does not match f+; delete it or pass force=True"):
        download("tiny", cache)


def test_unsafe_archive_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "evil.zip"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("../escape.txt", "x")
    monkeypatch.setitem(DATASETS, "tiny", _spec(source.as_uri()))
    with pytest.raises(DataError, match=r"unsafe path '\.\./escape\.txt'"):
        download("tiny", tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()
