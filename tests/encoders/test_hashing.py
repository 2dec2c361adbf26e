from __future__ import annotations

import numpy as np
import pytest

from explorec.encoders import Encoder, HashingEncoder, make_encoder
from explorec.errors import ConfigError


def test_unit_rows_shape_dtype_and_protocol() -> None:
    enc = HashingEncoder(dim=64)
    vectors = enc.encode(["red apple", "a diesel truck", ""])
    assert isinstance(enc, Encoder)
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, rtol=1e-6)
    # a text with no features (empty, or only stop words) is the zero vector, not NaN
    assert not vectors[2].any()
    assert not enc.encode(["the of and"]).any()


def test_deterministic_across_instances_and_batches() -> None:
    texts = ["sweet juicy mango", "electric guitar", "sweet juicy mango"]
    a = HashingEncoder(dim=128).encode(texts)
    b = np.concatenate([HashingEncoder(dim=128).encode([t]) for t in texts])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], a[2])


def test_shared_words_mean_similar_vectors() -> None:
    enc = HashingEncoder(dim=256)
    fruit1, fruit2, truck = enc.encode(
        ["sweet juicy ripe fruit: mango", "ripe juicy fruit, sweet: peach", "diesel truck with a big engine"]
    )
    assert fruit1 @ fruit2 > 0.5
    assert fruit1 @ fruit2 > fruit1 @ truck + 0.4


def test_identical_words_give_identical_word_features() -> None:
    # case and punctuation do not matter; word order only through the bigrams
    enc = HashingEncoder(dim=256, char_ngrams=(0, 0))
    a, b = enc.encode(["Red, APPLE!", "red apple"])
    np.testing.assert_allclose(a, b, atol=1e-7)


def test_model_id_names_the_settings() -> None:
    assert HashingEncoder(dim=32).model_id != HashingEncoder(dim=64).model_id
    assert HashingEncoder(dim=32, char_weight=0.1).model_id != HashingEncoder(dim=32).model_id


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"dim": 0}, "dim"), ({"char_ngrams": (4, 2)}, "char_ngrams"), ({"char_weight": -1.0}, "char_weight")],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HashingEncoder(**kwargs)  # type: ignore[arg-type]


def test_make_encoder_specs() -> None:
    assert make_encoder("hashing").dim == 256
    assert make_encoder("hashing:48").dim == 48
    enc = HashingEncoder(dim=8)
    assert make_encoder(enc) is enc
    with pytest.raises(ConfigError, match="hashing:<dim>"):
        make_encoder("hashing:big")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("hashing:abc", "parameter 'dim' must be an integer, got 'abc'"),
        ("hashing:-4", "dim must be a positive integer, got -4"),
        ("hashing:2.5", "parameter 'dim' must be an integer, got 2.5"),
        ("hashing:8:size=3", "unknown parameter 'size'; allowed: dim, char_ngrams, char_weight"),
    ],
)
def test_bad_hashing_specs_are_refused_not_defaulted(spec: str, match: str) -> None:
    # regression: 'hashing:abc' and 'hashing:-4' used to give a 256-dimensional encoder silently
    with pytest.raises(ConfigError, match=match):
        make_encoder(spec)


def test_hashing_spec_options() -> None:
    enc = make_encoder("hashing:16:char_weight=0.5:char_ngrams=[2, 3]")
    assert isinstance(enc, HashingEncoder)
    assert (enc.dim, enc.char_weight, enc.char_ngrams) == (16, 0.5, (2, 3))
