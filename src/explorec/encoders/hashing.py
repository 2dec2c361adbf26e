"""A tiny deterministic text encoder: signed feature hashing of words and character n-grams.

It needs no model file and runs in microseconds, yet it carries meaning the way a bag of words does:
texts that share words (or word pieces) get similar vectors. Tests of cold start use it, so that a
cold item whose text resembles a user's history really does rank higher — the tests are not vacuous.

Method: the "hashing trick" of Weinberger et al., *Feature Hashing for Large Scale Multitask
Learning*, ICML 2009. Each feature ``f`` (a lower-cased word, a word bigram, or a character n-gram of a
word padded with spaces) adds ``sign(f) * w_kind`` to coordinate ``h(f) mod dim``, where ``h`` is a
64-bit BLAKE2b hash and ``sign`` is its top bit. Counts are damped with ``log1p`` (sublinear term
frequency) and the vector is L2-normalised.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from explorec.encoders.base import l2_normalize
from explorec.errors import ConfigError, check_positive_int

_WORD = re.compile(r"\w+", re.UNICODE)
#: function words that every English text shares; hashing them would only add noise
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were with".split()
)


class HashingEncoder:
    """Hashed bag of words, word bigrams and character n-grams, L2-normalised.

    Parameters
    ----------
    dim : int
        Number of hash buckets (vector length).
    char_ngrams : tuple[int, int]
        Inclusive range of character n-gram lengths taken inside each word (``(0, 0)`` disables them).
    char_weight : float
        Weight of one character n-gram relative to one word (words weigh 1, bigrams 0.5).

    Examples
    --------
    >>> enc = HashingEncoder(dim=64)
    >>> v = enc.encode(["red apple", "green apple", "diesel truck"])
    >>> v.shape, bool(v[0] @ v[1] > v[0] @ v[2])
    ((3, 64), True)
    """

    cacheable = False

    def __init__(self, *, dim: int = 256, char_ngrams: tuple[int, int] = (3, 5), char_weight: float = 0.3):
        self._dim = check_positive_int("dim", dim)
        low, high = (int(char_ngrams[0]), int(char_ngrams[1]))
        if low < 0 or high < low:
            raise ConfigError(f"char_ngrams must be (low, high) with 0 <= low <= high, got {char_ngrams!r}")
        if char_weight < 0:
            raise ConfigError(f"char_weight must be >= 0, got {char_weight!r}")
        self.char_ngrams = (low, high)
        self.char_weight = float(char_weight)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_id(self) -> str:
        low, high = self.char_ngrams
        return f"hashing-v1:dim={self._dim}:char={low}-{high}:w={self.char_weight:g}"

    def __repr__(self) -> str:
        return (
            f"HashingEncoder(dim={self._dim}, char_ngrams={self.char_ngrams}, char_weight={self.char_weight})"
        )

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Encode ``texts`` -> ``float32[n, dim]`` (unit rows; a text without features is all zero)."""
        from explorec import progress as bars

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        rows = bars.bar(texts, desc="encode (hashing)", unit="text", show=progress)
        for row, text in enumerate(rows):
            totals: dict[str, float] = {}
            for feature, weight in self._features(text):
                totals[feature] = totals.get(feature, 0.0) + weight
            for feature, weight in totals.items():
                bucket, sign = self._hash(feature)
                out[row, bucket] += sign * float(np.log1p(weight))
        return l2_normalize(out)

    def _features(self, text: str) -> Iterator[tuple[str, float]]:
        words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
        for word in words:
            yield "w:" + word, 1.0
        for first, second in itertools.pairwise(words):
            yield f"b:{first} {second}", 0.5
        low, high = self.char_ngrams
        if self.char_weight == 0 or high == 0:
            return
        for word in words:
            padded = f" {word} "
            for n in range(max(low, 1), high + 1):
                for start in range(len(padded) - n + 1):
                    yield "c:" + padded[start : start + n], self.char_weight

    def _hash(self, feature: str) -> tuple[int, float]:
        value = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        return value % self._dim, (1.0 if value >> 63 else -1.0)
