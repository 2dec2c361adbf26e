"""Fixtures of the encoder tests: an isolated cache folder and a counting encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from explorec.encoders import HashingEncoder


class CountingEncoder:
    """A cacheable ``HashingEncoder`` that records every text it was asked to encode."""

    cacheable = True

    def __init__(self, dim: int = 32) -> None:
        self.inner = HashingEncoder(dim=dim)
        self.seen: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def model_id(self) -> str:
        return "counting:" + self.inner.model_id

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture
def counting() -> CountingEncoder:
    return CountingEncoder()


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its embedding cache under its own tmp folder, never under ~/.cache."""
    monkeypatch.setenv("EXPLOREC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "embeddings"
