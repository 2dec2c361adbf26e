"""Dynamic int8 quantisation of a trained neural recommender, for CPU inference.

``quantize_model(model, "int8")`` replaces every ``nn.Linear`` of the trained network (SASRec's
attention projections and feed-forward layers, the text projection; the two-tower and adapter
towers alike) by ``torch.ao.quantization.quantize_dynamic``'s int8 version: weights stored as int8
with one scale per tensor, activations quantised on the fly per batch, the matrix products run by
the x86/fbgemm int8 kernels (Krishnamoorthi, *Quantizing deep convolutional networks for efficient
inference: A whitepaper*, 2018). Embedding tables, layer norms and the final item-table product stay
float32, so the scores change only through the quantised layers.

It is an inference-time choice: the quantised model scores, ranks and recommends like the float
one, but is never saved (``save`` refuses it); quantise after loading instead
(:func:`explorec.models.saved.load_saved` with ``quantize="int8"``, ``explorec recommend
--quantize int8``). Quantised modules run on CPU only, so a model on CUDA is moved to the CPU.

Measured in ``bench/compression.py`` (docs/BENCHMARKS.md, "Compression").
"""

from __future__ import annotations

import logging
import warnings
from typing import TypeVar

from explorec.errors import ConfigError, NotFittedError, check_choice
from explorec.models.base import Recommender

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "int8")

R = TypeVar("R", bound=Recommender)


def check_quantize(quantize: str | None) -> str:
    """``"none"`` for None, else ``quantize`` when it is one of ``QUANTIZATIONS``."""
    return check_choice("quantize", "none" if quantize is None else quantize, QUANTIZATIONS)


def quantize_model(model: R, quantize: str | None = "int8") -> R:
    """Quantise ``model``'s Linear layers to int8 in place (``"none"``/None: unchanged); returns it.

    Parameters
    ----------
    model : Recommender
        A fitted neural recommender (a ``TorchRecommender``: SASRec, two-tower, lm-adapter).
    quantize : {"int8", "none"} or None

    Raises
    ------
    ConfigError
        For another value, or a model that has no torch network to quantise.
    NotFittedError
        When the model has not been fitted (or loaded).
    """
    import torch
    from torch import nn

    from explorec.models.torch_base import TorchRecommender

    mode = check_quantize(quantize)
    if mode == "none":
        return model
    if not isinstance(model, TorchRecommender):
        raise ConfigError(
            f"quantize={mode!r} applies to the neural models (sasrec, two-tower, lm-adapter), "
            f"not to {type(model).__name__}"
        )
    if not hasattr(model, "module_"):
        raise NotFittedError(f"{type(model).__name__} must be fitted or loaded before it is quantised")
    if getattr(model, "quantized_", None) == mode:
        return model
    if model.device_.type != "cpu":
        logger.info("int8 layers run on CPU: moving %s from %s", type(model).__name__, model.device_)
    module = model.module_.to("cpu").eval()
    n_linear = sum(isinstance(m, nn.Linear) for m in module.modules())
    with warnings.catch_warnings():
        # torch 2.13 marks torch.ao.quantization deprecated in favour of torchao (not a dependency
        # here); the eager dynamic path it warns about is the one measured in bench/compression.py
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*", category=UserWarning)
        from torch.ao.quantization import quantize_dynamic

        quantized = quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)
    model.module_ = quantized
    model.device_ = torch.device("cpu")
    model.quantized_ = mode  # type: ignore[attr-defined]
    logger.info("%s: %d Linear layers quantised to int8", type(model).__name__, n_linear)
    return model
