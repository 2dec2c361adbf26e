from __future__ import annotations

import hashlib
import itertools
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from explorec.encoders import Encoder, HashingEncoder, hashing, make_encoder
from explorec.encoders.base import l2_normalize
from explorec.encoders.hashing import _WORD, STOP_WORDS
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


# ----------------------------------------------------------------- the vectorised encoder keeps the vectors
FIXED = [
    "eSUN 3D 1.75mm PETG Green Filament 1kg (2.2lb), PETG 3D Printer Filament, "
    "Semi-Transparent 1.75mm Green.",
    "Red, APPLE! red apple apple apple apple apple apple apple apple apple apple",
    "",
    "the of and",
    "Über grüne Äpfel: ß, façade, naïve café",
    "x",
    "pipette pipette pipette tips 10 µl, 200 µl and 1000 µl",
]
#: sha256 of the float32 bytes the feature-by-feature implementation (before the vectorised one) gave
GOLDEN = {
    (64, (3, 5)): "b5d52c3eaeba8006f1024ba9e2cc4414dee99f57f9755985dd74ef3f9bf4433e",
    (7, (1, 6)): "3d9dae887e112c3bfbe86aea6723023ff298b7b74e7ed976f297369f8d017108",
    (256, (0, 0)): "75682ca8a267b65a4257e6632b56d8cb2a4f3bce241044037c64694d0effce69",
}


def reference_encode(
    texts: list[str], dim: int, char_ngrams: tuple[int, int], char_weight: float
) -> np.ndarray:
    """The encoder's definition, feature by feature in plain Python (the implementation it replaced)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
        features = [("w:" + w, 1.0) for w in words]
        features += [(f"b:{a} {b}", 0.5) for a, b in itertools.pairwise(words)]
        if char_weight != 0 and char_ngrams[1] != 0:
            for word in words:
                padded = f" {word} "
                for n in range(max(char_ngrams[0], 1), char_ngrams[1] + 1):
                    features += [("c:" + padded[s : s + n], char_weight) for s in range(len(padded) - n + 1)]
        totals: dict[str, float] = {}
        for feature, weight in features:
            totals[feature] = totals.get(feature, 0.0) + weight
        for feature, weight in totals.items():
            value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            out[row, value % dim] += (1.0 if value >> 63 else -1.0) * float(np.log1p(weight))
    return l2_normalize(out)


@pytest.mark.parametrize(("dim", "char_ngrams"), sorted(GOLDEN))
def test_vectors_are_bit_identical_to_the_feature_by_feature_encoder(
    dim: int, char_ngrams: tuple[int, int]
) -> None:
    vectors = HashingEncoder(dim=dim, char_ngrams=char_ngrams).encode(FIXED)
    assert hashlib.sha256(vectors.tobytes()).hexdigest() == GOLDEN[(dim, char_ngrams)]


def test_random_texts_match_the_reference_across_chunks_and_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vocab = ["red", "apple", "the", "Lens", "lens", "µl", "3d", "PETG", "glass", "of", "a", "pipette", "x"]
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(0, 40)))) for _ in range(300)]
    # small chunks and a small feature cap: tables emptied and rebuilt between chunks
    monkeypatch.setattr(hashing, "_CHUNK", 37)
    monkeypatch.setattr(hashing, "_MAX_FEATURES", 50)
    for dim, grams, weight in ((5, (2, 4), 0.3), (64, (3, 5), 0.1), (16, (0, 0), 0.3), (16, (3, 5), 0.0)):
        enc = HashingEncoder(dim=dim, char_ngrams=grams, char_weight=weight)
        want = reference_encode(texts, dim, grams, weight)
        np.testing.assert_array_equal(enc.encode(texts), want)
        np.testing.assert_array_equal(enc.encode(texts[::-1]), want[::-1])  # warm tables, other order


def test_a_pickled_copy_travels_without_its_tables() -> None:
    enc = HashingEncoder(dim=32)
    first = enc.encode(FIXED)
    assert len(enc._ids) > 100
    copy = pickle.loads(pickle.dumps(enc))
    assert copy._ids == {} and copy.model_id == enc.model_id
    np.testing.assert_array_equal(copy.encode(FIXED), first)


def test_threads_sharing_one_encoder_get_the_vectors_of_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # the feature tables are shared: unguarded, two threads adding features at once would swap their
    # buckets (and a table reset would pull ids from under a running chunk)
    monkeypatch.setattr(hashing, "_CHUNK", 5)
    monkeypatch.setattr(hashing, "_MAX_FEATURES", 200)
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(400)]
    batches = [[" ".join(rng.choice(vocab, size=12)) for _ in range(40)] for _ in range(8)]
    want = [reference_encode(b, 16, (3, 5), 0.3) for b in batches]
    enc = HashingEncoder(dim=16)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(enc.encode, batches * 3))
    for i, vectors in enumerate(got):
        np.testing.assert_array_equal(vectors, want[i % len(batches)])
