"""A saved model with what it needs to serve: metadata, catalogue, seen items and item vectors.

``Recommender.save(path, metadata=..., catalog=..., seen=..., item_vectors=...)`` writes, inside one
atomic version (:mod:`explorec.persist`), next to the model's own files:

================== =========================================================================
``run.json``        how the model was made: dataset, split, preprocessing, metrics (JSON)
``catalog.npz``     item ids, text fields (titles...) and attributes, as unicode/number arrays
``seen.npz``        every (user, item) pair known when the model was saved, over its vocabularies
``item_vectors.npy`` float32[n_items, dim] item vectors (``run.json`` names their encoder)
================== =========================================================================

:func:`load_saved` reads them back (after the manifest check) as a :class:`SavedModel`, so that
``explorec recommend --model-dir`` works without the raw dataset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import DataError
from explorec.models.base import Recommender

RUN = "run.json"
CATALOG = "catalog.npz"
SEEN = "seen.npz"
ITEM_VECTORS = "item_vectors.npy"


def write_bundle(
    folder: Path,
    model: Recommender,
    *,
    metadata: Mapping[str, Any] | None = None,
    catalog: Catalog | None = None,
    seen: Interactions | None = None,
    item_vectors: npt.NDArray[np.float32] | None = None,
) -> None:
    """Write the optional serving files into a version folder (see the module docstring)."""
    n_items = model.n_items_
    if metadata is not None:
        (folder / RUN).write_text(json.dumps(dict(metadata), indent=2, sort_keys=True, default=_plain))
    if catalog is not None:
        if catalog.n_items != n_items:
            raise DataError(f"catalog has {catalog.n_items} items, the model {n_items}")
        save_catalog(catalog, folder / CATALOG)
    if seen is not None:
        if (seen.n_users, seen.n_items) != (model.n_users_, n_items):
            raise DataError(
                f"seen has {seen.n_users} users x {seen.n_items} items, the model "
                f"{model.n_users_} x {n_items}"
            )
        np.savez_compressed(
            folder / SEEN,
            allow_pickle=False,
            user=seen.user.astype(np.int64),
            item=seen.item.astype(np.int64),
        )
    if item_vectors is not None:
        vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != n_items:
            raise DataError(f"item_vectors has shape {vectors.shape}, expected ({n_items}, dim)")
        np.save(folder / ITEM_VECTORS, vectors, allow_pickle=False)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in {RUN}")


def save_catalog(catalog: Catalog, path: Path) -> None:
    """Catalogue as ``.npz`` without pickle: text as unicode arrays, object attributes as text + a
    missing-value mask."""
    arrays: dict[str, np.ndarray] = {"item_ids": catalog.item_ids.astype(str)}
    for name, values in catalog.fields.items():
        arrays[f"field:{name}"] = np.asarray(values).astype(str)
    for name, values in catalog.attributes.items():
        arr = np.asarray(values)
        if arr.dtype.kind in "biuf":
            arrays[f"attr:{name}"] = arr
        else:
            missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in arr], dtype=bool)
            arrays[f"attr:{name}"] = np.where(missing, "", arr.astype(str))
            arrays[f"missing:{name}"] = missing
    if catalog.arrival is not None:
        arrays["arrival"] = np.asarray(catalog.arrival, dtype=np.float64)
    np.savez_compressed(path, allow_pickle=False, **arrays)


def load_catalog(path: Path) -> Catalog:
    """Read what ``save_catalog`` wrote."""
    from explorec.persist import read_npz

    z = read_npz(path)
    if "item_ids" not in z:
        raise DataError(f"{path}: array 'item_ids' missing; the file is not a saved catalogue")
    fields = {k.partition(":")[2]: z[k].astype(object) for k in z if k.startswith("field:")}
    attributes: dict[str, np.ndarray] = {}
    for key in z:
        if not key.startswith("attr:"):
            continue
        name = key.partition(":")[2]
        values = z[key]
        if f"missing:{name}" in z:
            values = values.astype(object)
            values[z[f"missing:{name}"]] = None
        attributes[name] = values
    arrival = z["arrival"] if "arrival" in z else None
    try:
        return Catalog(z["item_ids"].astype(object), fields, attributes, arrival)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


@dataclass
class SavedModel:
    """One loaded version: the model and the files saved with it."""

    model: Recommender
    version: Path
    manifest: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    catalog: Catalog | None = None
    seen: Interactions | None = None
    item_vectors: npt.NDArray[np.float32] | None = None

    @property
    def titles(self) -> npt.NDArray[np.object_] | None:
        """The first of ``title``/``name``/``text`` the saved catalogue has, or None."""
        if self.catalog is None:
            return None
        for name in ("title", "name", "text"):
            if name in self.catalog.fields:
                return self.catalog.fields[name]
        return None


def load_saved(path: str | Path, *, quantize: str | None = None) -> SavedModel:
    """Load the current version of ``path`` (or one version folder) with its serving files.

    ``quantize="int8"`` quantises a neural model's Linear layers for CPU inference after loading
    (:func:`explorec.models.quantize.quantize_model`); None or ``"none"`` loads it as saved.
    """
    from explorec.models.base import open_saved_folder
    from explorec.models.quantize import check_quantize, quantize_model
    from explorec.persist import read_json_object, read_npy, read_npz

    mode = check_quantize(quantize)
    version, manifest = open_saved_folder(path)
    model = quantize_model(Recommender.read_files(version), mode)
    saved = SavedModel(model, version, manifest)
    if (version / RUN).is_file():
        saved.metadata = read_json_object(version / RUN)
    if (version / CATALOG).is_file():
        saved.catalog = load_catalog(version / CATALOG)
        if not np.array_equal(saved.catalog.item_ids, model.train_.item_ids):
            raise DataError(f"{version / CATALOG}: item ids differ from the model's vocabulary")
    if (version / SEEN).is_file():
        pairs = read_npz(version / SEEN)
        if set(pairs) != {"user", "item"}:
            raise DataError(f"{version / SEEN}: expected arrays 'user' and 'item', got {sorted(pairs)}")
        train = model.train_
        try:
            saved.seen = Interactions.from_arrays(
                pairs["user"], pairs["item"], user_ids=train.user_ids, item_ids=train.item_ids
            )
        except DataError as exc:
            raise DataError(f"{version / SEEN}: {exc}") from None
    if (version / ITEM_VECTORS).is_file():
        vectors = read_npy(version / ITEM_VECTORS)
        if vectors.ndim != 2 or vectors.shape[0] != model.n_items_ or vectors.dtype != np.float32:
            raise DataError(
                f"{version / ITEM_VECTORS}: {vectors.dtype}{list(vectors.shape)}, expected "
                f"float32[{model.n_items_}, dim]"
            )
        saved.item_vectors = vectors
    return saved
