"""A sentence model exported to ONNX and run by onnxruntime, optionally with int8 weights.

The packaged all-MiniLM-L6-v2 (or any local sentence-transformers folder whose pipeline is a
Transformer, mean pooling and an optional Normalize) is exported once with ``torch.onnx.export``:
the graph takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the model has them)
and returns the mean-pooled sentence vector, so the pooling runs inside onnxruntime too. With
``quantize="int8"`` the float graph is then quantised by ``onnxruntime.quantization.quantize_dynamic``
(Jacob et al., *Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference*, CVPR 2018): weights of the matrix products and the embedding tables are stored as int8
with one scale per output channel (``per_channel=True``; one scale per tensor costs MiniLM about
0.04 of cosine agreement), activations are quantised on the fly per batch.

Encoder specs (see :func:`explorec.encoders.make_encoder`): ``"minilm-onnx-int8"`` and
``"minilm-onnx"`` (float32 ONNX) for the packaged MiniLM; ``"onnx-int8:<model folder>"`` and
``"onnx:<model folder>"`` for another local sentence-transformers model.

**The exported-model cache.** The export is written to
``<onnx cache dir>/<slug of source model id, quantisation, opset, library versions>/`` through
:func:`explorec.persist.save_version`, so a reader sees the previous complete export or the new
complete one, never a half-written file, and a killed exporter leaves nothing behind. Loading goes
through :func:`explorec.persist.resolve_version` and :func:`explorec.persist.verify_manifest`
(every file's SHA-256 checked before onnxruntime reads it); ``config.json`` is read as plain JSON
and the tokenizer from ``tokenizer.json`` with the ``tokenizers`` library (data, never code). A
cached export that fails its manifest is logged as a warning and replaced by a fresh export. The
default folder is ``$EXPLOREC_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/explorec/onnx``.

Measured in ``bench/compression.py`` (docs/BENCHMARKS.md, "Compression").
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec import progress as bars
from explorec.encoders.base import deduplicate, l2_normalize
from explorec.encoders.cache import model_slug
from explorec.errors import ConfigError, DataError, check_choice, check_positive_int

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "int8")
#: spec -> (model, quantize) for the packaged MiniLM
NAMED_SPECS = {"minilm-onnx": "none", "minilm-onnx-int8": "int8"}
#: spec prefix (before ``:<model folder>``) -> quantize
PREFIX_SPECS = {"onnx": "none", "onnx-int8": "int8"}
OPSET = 17
#: the version of what this module writes into an export folder
EXPORT_FORMAT = 1
_MODEL_FILE = "model.onnx"
_TOKENIZER_FILE = "tokenizer.json"
_CONFIG_FILE = "config.json"
_ALLOWED_MODULES = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)


def default_onnx_dir() -> Path:
    """``$EXPLOREC_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/explorec/onnx`` (``~/.cache`` by default)."""
    if os.environ.get("EXPLOREC_CACHE_DIR"):
        return Path(os.environ["EXPLOREC_CACHE_DIR"]).expanduser() / "onnx"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "explorec" / "onnx"


def is_onnx_spec(spec: str) -> bool:
    """True for the encoder specs this module builds (``minilm-onnx-int8``, ``onnx:<folder>``, ...)."""
    return spec in NAMED_SPECS or (spec.split(":", 1)[0] in PREFIX_SPECS and ":" in spec)


def parse_onnx_spec(spec: str) -> tuple[str | None, str]:
    """``(model, quantize)`` of an ONNX encoder spec; None is the packaged MiniLM.

    >>> parse_onnx_spec("minilm-onnx-int8")
    (None, 'int8')
    >>> parse_onnx_spec("onnx:/models/my-minilm")
    ('/models/my-minilm', 'none')
    """
    if spec in NAMED_SPECS:
        return None, NAMED_SPECS[spec]
    prefix, _, model = spec.partition(":")
    if prefix not in PREFIX_SPECS or not model:
        raise ConfigError(
            f"encoder {spec!r}: expected one of {sorted(NAMED_SPECS)} or "
            f"{' / '.join(f'{p}:<model folder>' for p in PREFIX_SPECS)}"
        )
    return model, PREFIX_SPECS[prefix]


def _check_pipeline(path: Path) -> None:
    """Refuse a model whose modules are not Transformer -> mean Pooling [-> Normalize] (what is exported)."""
    from explorec.persist import read_json, read_json_object

    modules = path / "modules.json"
    if not modules.is_file():
        raise ConfigError(f"{path}: no modules.json; the ONNX export needs a sentence-transformers folder")
    entries = read_json(modules)
    kinds = [e.get("type") for e in entries] if isinstance(entries, list) else []
    if not kinds or any(k not in _ALLOWED_MODULES for k in kinds) or len(kinds) > 3:
        raise ConfigError(
            f"{modules}: modules {kinds}; the ONNX export supports Transformer -> Pooling (mean) "
            "[-> Normalize] only"
        )
    for entry in entries:
        if str(entry.get("type", "")).endswith("Pooling"):
            cfg = read_json_object(path / str(entry.get("path", "")) / "config.json")
            if not cfg.get("pooling_mode_mean_tokens", False) or any(
                cfg.get(k)
                for k in (
                    "pooling_mode_cls_token",
                    "pooling_mode_max_tokens",
                    "pooling_mode_mean_sqrt_len_tokens",
                )
            ):
                raise ConfigError(f"{path}: pooling {cfg}; the ONNX export supports mean pooling only")


class OnnxEncoder:
    """A sentence-transformers model run by onnxruntime on CPU, float32 or with int8 weights.

    Parameters
    ----------
    model : str or path, optional
        A local sentence-transformers folder, or None / ``"default"`` for the packaged all-MiniLM-L6-v2.
    quantize : {"int8", "none"}
        Dynamic int8 quantisation of the exported graph, or the float32 export as it is.
    cache_dir : path, optional
        Folder of exported models (default :func:`default_onnx_dir`).
    batch_size : int
        Texts per onnxruntime call.
    num_threads : int, optional
        onnxruntime intra-op threads (None: onnxruntime's default, one per core).
    max_seq_length : int, optional
        Truncate inputs to this many tokens (None: the model's own limit, 256 for MiniLM).

    Examples
    --------
    >>> enc = OnnxEncoder(quantize="int8")            # doctest: +SKIP
    >>> enc.encode(["a red apple"]).shape             # doctest: +SKIP
    (1, 384)
    """

    cacheable = True

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        quantize: str = "int8",
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        num_threads: int | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        from explorec.encoders.sentence import SentenceEncoder

        check_choice("quantize", quantize, QUANTIZATIONS)
        self.quantize = quantize
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_threads = None if num_threads is None else check_positive_int("num_threads", num_threads)
        self.max_seq_length = (
            None if max_seq_length is None else check_positive_int("max_seq_length", max_seq_length)
        )
        # the float model it is exported from: its folder, name and weights digest
        self.source = SentenceEncoder(model, device="cpu", max_seq_length=max_seq_length)
        if not self.source._is_local:
            raise ConfigError(
                f"ONNX encoder: model {self.source.model!r} must be a local sentence-transformers folder"
            )
        _check_pipeline(Path(self.source._path))
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_onnx_dir()
        self._session: Any = None
        self._tokenizer: Any = None
        self._config: dict[str, Any] = {}
        self._digest = ""
        #: seconds spent exporting (0 when the export was cached) and loading the session
        self.export_seconds = 0.0
        self.load_seconds = 0.0

    def __repr__(self) -> str:
        return (
            f"OnnxEncoder(model={self.source.model!r}, quantize={self.quantize!r}, "
            f"batch_size={self.batch_size})"
        )

    # ------------------------------------------------------------------ the exported model
    @property
    def export_dir(self) -> Path:
        """The versioned folder (``CURRENT`` + ``v-...``) that holds this encoder's export."""
        import onnxruntime
        import torch

        key = (
            f"{self.source.model_id}|onnx-{self.quantize}|opset{OPSET}|format{EXPORT_FORMAT}"
            f"|ort{onnxruntime.__version__}|torch{torch.__version__}"
        )
        return self.cache_dir / model_slug(key)

    def exported(self) -> Path:
        """The verified version folder of the export; exported first when there is none (or it is corrupt)."""
        from explorec.persist import resolve_version, verify_manifest

        root = self.export_dir
        if root.is_dir():
            try:
                version = resolve_version(root)
                verify_manifest(version)
                return version
            except DataError as exc:
                logger.warning("ONNX export cache %s is unusable (%s); exporting again", root, exc)
        return self._export(root)

    def _export(self, root: Path) -> Path:
        from explorec.persist import save_version

        start = time.perf_counter()
        version = save_version(root, self._write_export, kind="onnx-encoder", keep=1)
        self.export_seconds = time.perf_counter() - start
        logger.info(
            "exported %s to ONNX (%s) in %.1fs: %s",
            self.source.model_id,
            self.quantize,
            self.export_seconds,
            version,
        )
        return version

    def _write_export(self, folder: Path) -> None:
        """Write ``model.onnx``, ``tokenizer.json`` and ``config.json`` into the empty ``folder``."""
        import json

        import onnxruntime
        import torch

        from explorec.encoders.sentence import SentenceEncoder

        st = self.source.st_model
        transformer = st[0]
        hf_model = transformer.auto_model
        tokenizer = st.tokenizer
        max_len = int(self.max_seq_length or st.max_seq_length)
        sample = tokenizer(["a", "an example sentence to trace"], padding=True, return_tensors="pt")
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
        wrapper = _mean_pooled(hf_model, names)
        axes = {n: {0: "batch", 1: "tokens"} for n in names}
        float_path = folder / "float.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            # the TorchScript exporter warns about its own deprecation and about Python booleans
            # in transformers' mask code; the export is checked against the float model in the tests
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                tuple(sample[n] for n in names),
                str(float_path),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        if self.quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quant_logger = logging.getLogger()  # onnxruntime.quantization logs advice on the root logger
            level = quant_logger.level
            quant_logger.setLevel(max(level, logging.ERROR))
            try:
                quantize_dynamic(
                    str(float_path), str(folder / _MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True
                )
            finally:
                quant_logger.setLevel(level)
            float_path.unlink()
        else:
            float_path.rename(folder / _MODEL_FILE)
        source_tok = Path(self.source._path) / _TOKENIZER_FILE
        if source_tok.is_file():
            shutil.copyfile(source_tok, folder / _TOKENIZER_FILE)
        else:
            tokenizer.backend_tokenizer.save(str(folder / _TOKENIZER_FILE))
        config = {
            "export_format": EXPORT_FORMAT,
            "source_model_id": self.source.model_id,
            "quantize": self.quantize,
            "dim": SentenceEncoder.dim_of(st),
            "max_seq_length": max_len,
            "inputs": names,
            "pad_token": tokenizer.pad_token,
            "pad_token_id": int(tokenizer.pad_token_id),
            "opset": OPSET,
            "onnxruntime": onnxruntime.__version__,
            "torch": torch.__version__,
        }
        (folder / _CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from explorec.persist import read_json_object

        version = self.exported()
        start = time.perf_counter()
        config = read_json_object(version / _CONFIG_FILE)
        for key, wanted in (("export_format", EXPORT_FORMAT), ("quantize", self.quantize)):
            if config.get(key) != wanted:
                raise DataError(f"{version / _CONFIG_FILE}: {key}={config.get(key)!r}, expected {wanted!r}")
        tokenizer = Tokenizer.from_file(str(version / _TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
        tokenizer.enable_padding(pad_id=int(config["pad_token_id"]), pad_token=str(config["pad_token"]))
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: onnxruntime's warnings go to stderr, not our logger
        options.inter_op_num_threads = 1
        if self.num_threads is not None:
            options.intra_op_num_threads = self.num_threads
        session = ort.InferenceSession(
            str(version / _MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        missing = set(config["inputs"]) ^ {i.name for i in session.get_inputs()}
        if missing:
            raise DataError(
                f"{version / _MODEL_FILE}: graph inputs differ from config.json ({sorted(missing)})"
            )
        self._config, self._tokenizer, self._session = config, tokenizer, session
        self._digest = version.name.rsplit("-", 1)[-1]
        self.load_seconds = time.perf_counter() - start
        logger.info("loaded ONNX encoder %s (%s, dim %d)", version, self.quantize, config["dim"])

    @property
    def session(self) -> Any:
        """The onnxruntime ``InferenceSession``, exported and loaded on first use."""
        if self._session is None:
            self._load()
        return self._session

    @property
    def dim(self) -> int:
        _ = self.session
        return int(self._config["dim"])

    @property
    def model_id(self) -> str:
        """``<source model id>+onnx-<quantize>@<export digest>``: another export gets another cache."""
        _ = self.session
        return f"{self.source.model_id}+onnx-{self.quantize}@{self._digest}"

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Encode ``texts`` -> ``float32[n, dim]`` unit rows; duplicates are encoded once.

        As ``SentenceEncoder``: unique texts sorted by length (longest first), cut into batches.
        """
        session = self.session
        unique, inverse = deduplicate(texts)
        vectors = np.empty((len(unique), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in unique], kind="stable")
        names = list(self._config["inputs"])
        with bars.bar(total=len(unique), unit="text", desc="encode (onnx)", show=progress) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                encodings = self._tokenizer.encode_batch([unique[i] for i in idx])
                feeds = {
                    "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
                }
                vectors[idx] = session.run(None, {n: feeds[n] for n in names})[0]
                bar.update(len(idx))
        return l2_normalize(vectors[inverse])


def _mean_pooled(hf_model: Any, names: list[str]) -> Any:
    """A ``torch.nn.Module`` (the transformer, then mean pooling over real tokens) for the export."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = hf_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            feeds = dict(zip(names, inputs, strict=True))
            tokens = self.model(**feeds).last_hidden_state  # [B, T, D]
            mask = feeds["attention_mask"].unsqueeze(-1).to(tokens.dtype)  # [B, T, 1]
            return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # [B, D]

    return MeanPooled().eval()
