"""Text encoders: item text -> L2-normalised vectors, with templates and a content-addressed cache.

``item_vectors(catalog)`` is the one call most code needs: it renders each item's text with a template,
encodes it with the packaged all-MiniLM-L6-v2 (or any ``Encoder``) and reuses vectors already in the
on-disk cache.

Encoder specs (the string form models store as a hyper-parameter, see ``make_encoder``):
``"default"`` (all-MiniLM-L6-v2), ``"hashing"`` / ``"hashing:<dim>"``, ``"minilm-onnx-int8"`` /
``"minilm-onnx"`` (MiniLM exported to ONNX, int8 or float32 weights, run by onnxruntime; also
``"onnx-int8:<folder>"`` / ``"onnx:<folder>"`` for another local model), a local model folder, or a
model name in the local Hugging Face cache.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog
from explorec.encoders.base import Encoder, deduplicate, l2_normalize
from explorec.encoders.cache import CachedEncoder, EmbeddingCache, default_cache_dir
from explorec.encoders.hashing import HashingEncoder
from explorec.encoders.onnx import OnnxEncoder, is_onnx_spec, parse_onnx_spec
from explorec.encoders.sentence import SentenceEncoder
from explorec.encoders.templates import DEFAULT_TEMPLATES, Template, item_texts, resolve_template
from explorec.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TEMPLATES",
    "CachedEncoder",
    "EmbeddingCache",
    "Encoder",
    "HashingEncoder",
    "OnnxEncoder",
    "SentenceEncoder",
    "Template",
    "deduplicate",
    "default_cache_dir",
    "item_texts",
    "item_vectors",
    "l2_normalize",
    "make_encoder",
    "parse_hashing_spec",
    "resolve_template",
]


def make_encoder(
    spec: str | Encoder | None = "default",
    *,
    device: str | None = None,
    batch_size: int = 64,
    num_threads: int | None = None,
) -> Encoder:
    """An encoder from its spec.

    Parameters
    ----------
    spec : str, Encoder or None
        ``"default"`` / None (packaged all-MiniLM-L6-v2), ``"hashing"`` or ``"hashing:<dim>"``,
        ``"minilm-onnx-int8"`` / ``"minilm-onnx"`` / ``"onnx-int8:<folder>"`` / ``"onnx:<folder>"``
        (``OnnxEncoder``), a local model folder or a cached Hugging Face model name; an ``Encoder`` is
        returned unchanged.
    device : str, optional
        Passed to ``SentenceEncoder``; ONNX encoders run on CPU only (None or ``"cpu"``).
    batch_size, num_threads
        Texts per forward pass and intra-op threads (torch or onnxruntime).

    >>> make_encoder("hashing:32").dim
    32
    """
    if spec is not None and not isinstance(spec, str):
        return spec
    if spec is not None and (spec == "hashing" or spec.startswith("hashing:")):
        return parse_hashing_spec(spec)
    if spec is not None and is_onnx_spec(spec):
        if device not in (None, "cpu"):
            raise ConfigError(
                f"encoder {spec!r} runs on onnxruntime's CPU provider; "
                f"device must be None or 'cpu', got {device!r}"
            )
        model, quantize = parse_onnx_spec(spec)
        return OnnxEncoder(model, quantize=quantize, batch_size=batch_size, num_threads=num_threads)
    return SentenceEncoder(spec, device=device, batch_size=batch_size, num_threads=num_threads)


def parse_hashing_spec(spec: str) -> HashingEncoder:
    """``"hashing"``, ``"hashing:<dim>"`` or ``"hashing:<dim>:char_weight=0.5"`` -> a ``HashingEncoder``.

    Checked by :mod:`explorec.spec`: ``hashing:abc`` and ``hashing:-4`` are refused with the value received.

    >>> parse_hashing_spec("hashing:64:char_weight=0.5").dim
    64
    """
    from explorec.spec import build, parse_spec, parse_value

    what = f"encoder {spec!r} (hashing:<dim>[:KEY=VALUE...])"
    parsed = parse_spec(spec, what=what)
    if parsed.name != "hashing":
        raise ConfigError(f"{what}: expected 'hashing' or 'hashing:<dim>', got {parsed.name!r}")
    params: dict[str, Any] = {key: parse_value(raw) for key, raw in parsed.options.items()}
    if parsed.value is not None:
        params["dim"] = parse_value(parsed.value)
    if "char_ngrams" in params and isinstance(params["char_ngrams"], list):
        params["char_ngrams"] = tuple(params["char_ngrams"])
    return build(HashingEncoder, params, what=what)


def item_vectors(
    catalog: Catalog,
    *,
    encoder: str | Encoder | None = None,
    template: str | Template | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> npt.NDArray[np.float32]:
    """The vector of every catalogue item.

    Parameters
    ----------
    catalog : Catalog
    encoder : str, Encoder or None
        See ``make_encoder``; None is the packaged all-MiniLM-L6-v2.
    template : str, Template or None
        A dataset name, a template string or a ``Template``; None picks one from the catalogue's fields
        (see ``explorec.encoders.templates``).
    cache_dir : path, optional
        Embedding cache folder (default ``default_cache_dir()``). Encoders whose ``cacheable`` is False
        (the hashing encoder) skip the cache.
    progress : bool, optional
        Progress bar while encoding; None (default) shows one on a terminal unless the CLI's
        ``--quiet`` turned bars off (:mod:`explorec.progress`).

    Returns
    -------
    float32[n_items, dim]
        Unit rows in internal item order.
    """
    enc = make_encoder(encoder)
    texts = item_texts(catalog, template)
    if enc.cacheable and not isinstance(enc, CachedEncoder):
        enc = CachedEncoder(enc, cache_dir)
    from explorec import progress as bars

    return enc.encode(texts, progress=bars.resolve(progress))
