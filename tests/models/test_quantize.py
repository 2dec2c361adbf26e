"""Dynamic int8 quantisation of SASRec for CPU inference: close scores, same top-1, load-time choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorec.data.toy import known_answer_split
from explorec.errors import ConfigError, NotFittedError
from explorec.models.popularity import Popularity
from explorec.models.quantize import quantize_model
from explorec.models.sasrec import SASRec
from explorec.models.saved import load_saved


def _trained() -> SASRec:
    split = known_answer_split()
    return SASRec(dim=32, n_heads=2, epochs=15, lr=0.01, dropout=0.1, device="cpu", progress=False).fit(
        split.train
    )


def test_int8_scores_stay_close_with_the_same_top1() -> None:
    split = known_answer_split()
    model = _trained()
    users = np.arange(split.train.n_users)
    before = model.score(users, history=split.test_history)
    assert quantize_model(model, "int8") is model
    after = model.score(users, history=split.test_history)
    kinds = {type(m).__module__ + "." + type(m).__name__ for m in model.module_.modules()}
    assert "torch.ao.nn.quantized.dynamic.modules.linear.Linear" in kinds
    assert "torch.nn.modules.linear.Linear" not in kinds  # every float Linear was replaced
    spread = float(before.max() - before.min())
    assert np.abs(after - before).max() < 0.05 * spread
    np.testing.assert_array_equal(after.argmax(axis=1), before.argmax(axis=1))
    assert np.corrcoef(after.ravel(), before.ravel())[0, 1] > 0.999


def test_quantised_model_is_not_saved_but_loads_quantised(tmp_path: Path) -> None:
    split = known_answer_split()
    model = _trained()
    model.save(tmp_path / "float")
    float_scores = model.score([0, 1], history=split.test_history)
    quantize_model(model)
    with pytest.raises(ConfigError, match="quantise it after loading"):
        model.save(tmp_path / "int8")
    saved = load_saved(tmp_path / "float", quantize="int8")
    assert getattr(saved.model, "quantized_", None) == "int8"
    np.testing.assert_allclose(
        saved.model.score([0, 1], history=split.test_history),
        model.score([0, 1], history=split.test_history),
        atol=1e-6,
    )
    plain = load_saved(tmp_path / "float")
    np.testing.assert_allclose(plain.model.score([0, 1], history=split.test_history), float_scores, atol=1e-6)
    with pytest.raises(ConfigError, match=r"quantize must be one of \('none', 'int8'\), got 'int4'"):
        load_saved(tmp_path / "float", quantize="int4")


def test_only_fitted_neural_models_are_quantised() -> None:
    split = known_answer_split()
    with pytest.raises(ConfigError, match="not to Popularity"):
        quantize_model(Popularity().fit(split.train))
    with pytest.raises(NotFittedError):
        quantize_model(SASRec())
    model = _trained()
    assert quantize_model(model, None) is model and isinstance(
        model.module_.blocks[0].attn.qkv, torch.nn.Linear
    )
