from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorec.data.interactions import Catalog
from explorec.encoders import CachedEncoder, EmbeddingCache, HashingEncoder, item_vectors
from explorec.encoders.cache import default_cache_dir, model_slug
from explorec.errors import DataError


def test_put_get_round_trip(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "m", 3)
    cache.put(["a", "b"], np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))
    vectors, found = cache.get(["b", "zzz", "a"])
    np.testing.assert_array_equal(found, [True, False, True])
    np.testing.assert_array_equal(vectors, [[0, 1, 0], [0, 0, 0], [1, 0, 0]])
    assert len(cache) == 2


def test_documented_on_disk_format(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path, "my/model@1", 2) as cache:
        cache.put(["héllo"], np.array([[0.5, -2.0]], dtype=np.float32))
    path = tmp_path / model_slug("my/model@1") / "vectors.sqlite"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta == {"format_version": "1", "model_id": "my/model@1", "dim": "2", "dtype": "<f4"}
    ((key, blob),) = db.execute("SELECT key, vector FROM vectors").fetchall()
    assert key == hashlib.sha256(b"my/model@1\0" + "héllo".encode()).digest()
    np.testing.assert_array_equal(np.frombuffer(blob, dtype="<f4"), [0.5, -2.0])


def test_other_dim_under_the_same_model_is_refused(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path, "m", 3).close()
    with pytest.raises(DataError, match="dim='3', expected '4'"):
        EmbeddingCache(tmp_path, "m", 4)


def test_unchanged_catalogue_is_free_and_a_changed_item_is_encoded_alone(
    tmp_path: Path, counting: Any
) -> None:
    texts = ["red apple", "green pear", "red apple", "blue plum"]
    first = CachedEncoder(counting, tmp_path)
    v1 = first.encode(texts)
    assert sorted(counting.seen) == ["blue plum", "green pear", "red apple"]  # duplicates encoded once
    assert (first.hits, first.misses) == (0, 3)

    counting.seen.clear()
    again = CachedEncoder(counting, tmp_path)  # a new process would open the same file
    np.testing.assert_array_equal(again.encode(texts), v1)
    assert counting.seen == [] and (again.hits, again.misses) == (3, 0)

    v3 = again.encode(["red apple", "green pear", "red apple", "black plum"])
    assert counting.seen == ["black plum"] and (again.hits, again.misses) == (2, 1)
    np.testing.assert_array_equal(v3[:3], v1[:3])
    np.testing.assert_array_equal(v3[3], HashingEncoder(dim=32).encode(["black plum"])[0])


def test_models_do_not_share_vectors(tmp_path: Path, counting: Any) -> None:
    CachedEncoder(counting, tmp_path).encode(["x"])
    other = type(counting)(dim=16)
    CachedEncoder(other, tmp_path).encode(["x"])
    assert other.seen == ["x"]


def test_concurrent_readers_and_a_writer(tmp_path: Path) -> None:
    dim = 8
    writer = EmbeddingCache(tmp_path, "m", dim)
    base = [f"t{k}" for k in range(200)]
    base_vectors = np.arange(200 * dim, dtype=np.float32).reshape(200, dim)
    writer.put(base, base_vectors)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            reader = EmbeddingCache(tmp_path, "m", dim)  # each thread its own connection
            for _ in range(20):
                vectors, found = reader.get(base)
                assert found.all()
                np.testing.assert_array_equal(vectors, base_vectors)
            reader.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for start in range(0, 400, 20):  # the writer keeps appending while they read
        writer.put([f"new{k}" for k in range(start, start + 20)], np.ones((20, dim), dtype=np.float32))
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(writer) == 600


def test_item_vectors_caches_and_skips_the_cache_for_hashing(_cache_dir: Path, counting: Any) -> None:
    cat = Catalog(np.array(["a", "b"], dtype=object), fields={"title": np.array(["x", "y"], dtype=object)})
    assert default_cache_dir() == _cache_dir
    item_vectors(cat, encoder=counting)
    item_vectors(cat, encoder=counting)
    assert counting.seen == ["x.", "y."]  # the automatic template ends each field with a period
    assert len(list(_cache_dir.rglob("vectors.sqlite"))) == 1
    vectors = item_vectors(cat, encoder="hashing:16")
    assert vectors.shape == (2, 16)
    assert len(list(_cache_dir.rglob("vectors.sqlite"))) == 1  # hashing is not cached


def test_a_cache_is_usable_from_other_threads(tmp_path: Path) -> None:
    # regression: the service embeds new items in FastAPI's thread pool, not the thread that opened
    # the cache; sqlite3 refused ("objects created in a thread can only be used in that same thread")
    cache = EmbeddingCache(tmp_path, "m", dim=2)
    errors: list[BaseException] = []

    def work(j: int) -> None:
        try:
            for r in range(20):
                cache.put([f"t{j}-{r}"], np.array([[float(j), float(r)]], dtype=np.float32))
                vectors, found = cache.get([f"t{j}-{r}"])
                assert found.all() and vectors[0, 1] == r
        except BaseException as exc:  # collected: an assert in a thread would not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 80
    cache.close()
