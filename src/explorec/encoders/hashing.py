"""A tiny deterministic text encoder: signed feature hashing of words and character n-grams.

It needs no model file and runs in microseconds, yet it carries meaning the way a bag of words does:
texts that share words (or word pieces) get similar vectors. Tests of cold start use it, so that a
cold item whose text resembles a user's history really does rank higher — the tests are not vacuous.

Method: the "hashing trick" of Weinberger et al., *Feature Hashing for Large Scale Multitask
Learning*, ICML 2009. Each feature ``f`` (a lower-cased word, a word bigram, or a character n-gram of a
word padded with spaces) adds ``sign(f) * w_kind`` to coordinate ``h(f) mod dim``, where ``h`` is a
64-bit BLAKE2b hash and ``sign`` is its top bit. Counts are damped with ``log1p`` (sublinear term
frequency) and the vector is L2-normalised.

Implementation: each distinct feature is hashed once and kept in a table (feature -> id -> bucket,
sign; word -> its feature ids); a batch of texts becomes one array of feature ids, aggregated per
text with NumPy (``np.unique``, ``np.add.at``), about ten times faster than hashing feature by feature.
The contributions are added in the order of the definition, so the vectors are bit-identical to the
feature-by-feature encoder's (``tests/encoders/test_hashing.py`` pins them) and ``model_id`` is
unchanged.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.encoders.base import l2_normalize
from explorec.errors import ConfigError, check_positive_int

_WORD = re.compile(r"\w+", re.UNICODE)
#: function words that every English text shares; hashing them would only add noise
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were with".split()
)
#: texts whose features are aggregated at once (bounds the id arrays to a few MB)
_CHUNK = 2048
#: distinct features the tables hold before they are emptied and rebuilt
_MAX_FEATURES = 2_000_000


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
        # feature string -> id, and per id a code: its bucket, sign and kind (0 word, 1 bigram, 2 char
        # n-gram); word -> (word feature id, character n-gram ids). Each distinct feature is hashed once.
        self._ids: dict[str, int] = {}
        self._words: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._code: list[int] = []
        self._code_array = np.empty(0, dtype=np.int64)
        self._synced = 0
        self._lock = threading.Lock()

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

    def __getstate__(self) -> dict[str, Any]:
        # the feature tables are a cache, rebuilt on use: a copy shipped to a worker (Ray, pickling)
        # travels without them (and without the lock, which cannot be pickled)
        state = dict(self.__dict__)
        state.update(self._empty_tables())
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _empty_tables(self) -> dict[str, Any]:
        return {"_ids": {}, "_words": {}, "_code": [], "_code_array": np.empty(0, np.int64), "_synced": 0}

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Encode ``texts`` -> ``float32[n, dim]`` (unit rows; a text without features is all zero)."""
        from explorec import progress as bars

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        starts = range(0, len(texts), _CHUNK)
        for start in bars.bar(starts, desc="encode (hashing)", unit="chunk", show=progress):
            # the tables are shared state: one chunk at a time (the work holds the GIL anyway), so
            # threads of a service can share one encoder
            with self._lock:
                self._encode_chunk(texts[start : start + _CHUNK], out[start : start + _CHUNK])
        return l2_normalize(out)

    def _encode_chunk(self, texts: Sequence[str], out: npt.NDArray[np.float32]) -> None:
        """Add the signed, damped feature counts of ``texts`` into ``out`` (float32[len(texts), dim]).

        Each text becomes the ids of its features in the order the definition lists them (words, word
        bigrams, then each word's character n-grams). Per (text, feature): the count, and the position
        of its first occurrence; the contributions ``sign * log1p(count * weight)`` are then added into
        the buckets in that first-occurrence order, so the float32 sums are the ones of adding feature
        by feature (the vectors do not depend on this implementation).
        """
        if len(self._ids) > _MAX_FEATURES:  # bound the cache: a long-lived encoder sees ever new bigrams
            self.__dict__.update(self._empty_tables())
        flat: list[int] = []  # feature ids, text after text
        lengths: list[int] = []
        rows: list[int] = []
        chars = self.char_weight != 0 and self.char_ngrams[1] != 0
        known, feature_id = self._words, self._feature
        for row, text in enumerate(texts):
            words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
            if not words:
                continue
            before = len(flat)
            cached = [known[w] if w in known else self._word(w) for w in words]
            flat.extend([c[0] for c in cached])
            flat.extend([feature_id(f"b:{a} {b}", 1) for a, b in itertools.pairwise(words)])
            if chars:
                for c in cached:
                    flat.extend(c[1])
            lengths.append(len(flat) - before)
            rows.append(row)
        if not rows:
            return
        features = np.fromiter(flat, dtype=np.int64, count=len(flat))  # [total]
        text_of = np.repeat(np.asarray(rows, dtype=np.int64), lengths)  # [total]
        keys = text_of * len(self._ids) + features
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")  # (text, feature) pairs in first-occurrence order
        first, counts = first[order], counts[order]
        feature = features[first]
        code = self._codes()[feature]  # bucket << 3 | positive sign << 2 | kind
        # count * weight as repeated float64 additions (as a running total would sum them)
        totals = np.add.accumulate(np.repeat(self._weights[:, None], int(counts.max()), axis=1), axis=1)
        sign = np.where(code & 4, 1.0, -1.0)
        value = (sign * np.log1p(totals[code & 3, counts - 1])).astype(np.float32)
        np.add.at(out, (text_of[first], code >> 3), value)

    def _codes(self) -> npt.NDArray[np.int64]:
        """``_code`` as an array, grown in place (doubling) so that each chunk copies only new features."""
        n, have = len(self._code), self._code_array.size
        if self._synced < n:
            if n > have:
                grown = np.empty(max(n, 2 * have, 1024), dtype=np.int64)
                grown[: self._synced] = self._code_array[: self._synced]
                self._code_array = grown
            self._code_array[self._synced : n] = self._code[self._synced : n]
            self._synced = n
        return self._code_array[:n]

    @property
    def _weights(self) -> npt.NDArray[np.float64]:
        """Weight of one feature of each kind: word, word bigram, character n-gram."""
        return np.array([1.0, 0.5, self.char_weight], dtype=np.float64)

    def _word(self, word: str) -> tuple[int, tuple[int, ...]]:
        """Feature ids of ``word``: its word feature, and its character n-grams in order."""
        cached = self._words.get(word)
        if cached is None:
            grams: list[int] = []
            low, high = self.char_ngrams
            padded = f" {word} "
            for n in range(max(low, 1), high + 1):
                for start in range(len(padded) - n + 1):
                    grams.append(self._feature("c:" + padded[start : start + n], 2))
            cached = (self._feature("w:" + word, 0), tuple(grams))
            self._words[word] = cached
        return cached

    def _feature(self, feature: str, kind: int) -> int:
        """The id of ``feature`` in the tables (hashed once, on first sight)."""
        fid = self._ids.get(feature)
        if fid is None:
            fid = len(self._ids)
            self._ids[feature] = fid
            value = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
            self._code.append((value % self._dim) << 3 | (value >> 63) << 2 | kind)
        return fid
