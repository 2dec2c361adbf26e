"""MiniLM exported to ONNX (float32 and int8): agreement with the float model, the export cache, specs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from explorec.data.interactions import Catalog
from explorec.encoders import CachedEncoder, OnnxEncoder, SentenceEncoder, item_vectors, make_encoder
from explorec.errors import ConfigError

TEXTS = [
    "a crisp red apple",
    "a ripe green pear",
    "a diesel delivery truck",
    "Digital pH meter with automatic temperature compensation, 0-14 pH, for laboratories",
    "borosilicate glass beakers, set of five, 50 ml to 1000 ml",
    # longer than MiniLM's 256-token limit: both models must truncate at the same token
    "safety goggles with anti-fog coating and an adjustable strap " * 30,
]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    import torch

    torch.set_num_threads(1)
    return SentenceEncoder(device="cpu", batch_size=8).encode(TEXTS)


@pytest.fixture(scope="module")
def int8(onnx_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(quantize="int8", cache_dir=onnx_dir, num_threads=1)


def test_float_export_reproduces_sentence_transformers(onnx_dir: Path, reference: np.ndarray) -> None:
    encoder = OnnxEncoder(quantize="none", cache_dir=onnx_dir, num_threads=1)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() > 0.9999, cosines


def test_int8_agrees_with_the_float_model(int8: OnnxEncoder, reference: np.ndarray) -> None:
    vectors = int8.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.mean() >= 0.985 and cosines.min() >= 0.97, cosines
    # meaning survives: the apple is nearer the pear than the truck, as in the float model
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    # one by one gives nearly what a batch gives: padding does not leak into the pooling, and only
    # the activation scales (computed per batch by dynamic quantisation) differ
    alone = np.concatenate([int8.encode([t]) for t in TEXTS[:3]])
    assert (alone * vectors[:3]).sum(axis=1).min() > 0.99


def test_export_is_cached_verified_and_identified(int8: OnnxEncoder, onnx_dir: Path) -> None:
    _ = int8.session
    again = OnnxEncoder(quantize="int8", cache_dir=onnx_dir)
    assert again.model_id == int8.model_id and again.export_seconds == 0.0  # loaded, not re-exported
    assert int8.model_id.startswith("all-MiniLM-L6-v2@") and "+onnx-int8@" in int8.model_id
    version = int8.exported()
    assert sorted(p.name for p in version.iterdir()) == [
        "config.json",
        "manifest.json",
        "model.onnx",
        "tokenizer.json",
    ]
    config = json.loads((version / "config.json").read_text())
    assert config["quantize"] == "int8" and config["dim"] == 384 and config["max_seq_length"] == 256
    # int8 weights: about a quarter of the float export's 90 MB
    assert (version / "model.onnx").stat().st_size < 30e6


def test_a_corrupt_export_is_refused_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, int8: OnnxEncoder
) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(int8.export_dir, root / int8.export_dir.name)
    encoder = OnnxEncoder(quantize="int8", cache_dir=root)
    model = encoder.exported() / "model.onnx"
    with model.open("r+b") as handle:  # flip bytes in the middle of the weights
        handle.seek(model.stat().st_size // 2)
        handle.write(b"\0" * 64)
    fresh = OnnxEncoder(quantize="int8", cache_dir=root)
    with caplog.at_level(logging.WARNING, logger="explorec.encoders.onnx"):
        fresh.encode(TEXTS[:1])
    assert "is unusable" in caplog.text and "content differs" in caplog.text
    assert fresh.export_seconds > 0  # exported again, and the new export is sound
    assert fresh.model_id.split("@")[-1] != "" and (fresh.exported() / "model.onnx").is_file()


def test_specs_select_onnx_encoders() -> None:
    enc = make_encoder("minilm-onnx-int8", batch_size=16, num_threads=1)
    assert isinstance(enc, OnnxEncoder) and enc.quantize == "int8" and enc.batch_size == 16
    flt = make_encoder("minilm-onnx")
    assert isinstance(flt, OnnxEncoder) and flt.quantize == "none"
    with pytest.raises(ConfigError, match="onnx-int8:<model folder>"):
        make_encoder("onnx-int8:")
    with pytest.raises(ConfigError, match="device must be None or 'cpu', got 'cuda'"):
        make_encoder("minilm-onnx-int8", device="cuda")
    with pytest.raises(ConfigError, match="quantize must be one of"):
        OnnxEncoder(quantize="int4")


def test_only_mean_pooled_models_are_exported(tmp_path: Path) -> None:
    folder = tmp_path / "cls-model"
    (folder / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(ConfigError, match="mean pooling only"):
        make_encoder(f"onnx-int8:{folder}")
    modules[1]["type"] = "my_package.CustomPooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="supports Transformer -> Pooling"):
        make_encoder(f"onnx:{folder}")


def test_item_vectors_cache_int8_vectors_apart(int8: OnnxEncoder, tmp_path: Path) -> None:
    catalog = Catalog(np.array(["a", "b"], dtype=object), fields={"text": np.array(TEXTS[:2], dtype=object)})
    cache = tmp_path / "emb"
    first = item_vectors(catalog, encoder=int8, cache_dir=cache)
    cached = CachedEncoder(int8, cache)
    np.testing.assert_array_equal(cached.encode(TEXTS[:2]), first)
    assert cached.hits == 2 and cached.misses == 0
    assert "onnx-int8" in cached.cache.path.parent.name
