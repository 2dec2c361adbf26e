"""Safe loading and atomic saving of everything explorec writes to disk.

**Safe loading.** A saved folder is data, never code. Whatever a file names is looked up in a
registry of explorec's own components (models, policies) by its registry name and built through
:func:`instantiate`, which checks every parameter against the constructor's signature; a name that is
not registered (``"os.system"``), an unknown parameter or a malformed file is refused with a
:class:`~explorec.errors.DataError` naming the file. Arrays are read with ``allow_pickle=False``,
torch weights with ``weights_only=True``.

**Atomic saving.** :func:`save_version` writes a *version* into a temporary folder inside the target,
seals it with a manifest (the SHA-256 of every file and one digest over them), renames it into place
and then switches the target's ``CURRENT`` pointer with one ``os.replace``. A reader therefore sees
either the previous complete version or the new complete one, never a mix, even when the writer is
killed at any instant; the previous version is kept until the next save so that a reader that
resolved the pointer just before a switch still finds its files. Layout::

    <target>/
        CURRENT                   # the current version's name, e.g. v-20261201T102530123456-3f2a9c1b0d4e
        v-20261201T102530123456-3f2a9c1b0d4e/
            manifest.json         # format_version, kind, created, files {path: {sha256, bytes}}, digest
            config.json, state.npz, ... (whatever the writer put there)
        .lock                     # serialises writers (flock)

:func:`resolve_version` accepts the target folder or one version folder, :func:`verify_manifest`
checks that the files on disk are exactly those the manifest lists, with the same content,
:func:`list_versions` lists the complete versions kept (``save_version(keep=N)``) and
:func:`set_current` pins or rolls back to one of them with the same atomic switch. Models use this
through ``Recommender.save`` / ``Recommender.load`` and :func:`explorec.models.saved.load_saved`;
a registry of model versions (issue 13) needs nothing else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
LOCK = ".lock"
_TMP_PREFIX = ".tmp-"
_VERSION_RE = re.compile(r"^v-\d{8}T\d{12}-[0-9a-f]{12}$")
_CHUNK = 1 << 20


# ---------------------------------------------------------------------- reading files safely
def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises ``DataError`` naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{p}: file missing") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text (byte {exc.start}); the file is corrupt") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); the file is corrupt"
        ) from None


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``read_json`` for a file that must hold a JSON object."""
    value = read_json(path)
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read eagerly without pickle.

    Truncated or garbled archives surface as ``BadZipFile``, ``EOFError``, ``zlib.error``, a CRC
    error, numpy's misleading "contains pickled data" ``ValueError``, ``OSError`` (Errno 22 on a
    seek before the start), ``NotImplementedError`` (a garbled compression method), ``MemoryError``
    (a garbled shape) and more; all of them become one ``DataError`` that names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file missing")
    try:
        # our own handle, so that numpy's failure on a corrupt file cannot leak it
        with p.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{p}: not an .npz archive")
            return {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except Exception as exc:  # a corrupt archive raises a zoo of types (see the docstring)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickled data" in reason:
            reason = "not a zip archive"
        raise DataError(f"{p}: not a readable .npz archive ({reason}); the file is corrupt") from None


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """One ``.npy`` array, without pickle; corruption raises ``DataError`` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file missing")
    try:
        with p.open("rb") as handle:
            value = np.load(handle, allow_pickle=False)
    except Exception as exc:  # as in read_npz: any failure here means a corrupt file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickled data" in reason:
            reason = "not an .npy array"
        raise DataError(f"{p}: not a readable .npy array ({reason}); the file is corrupt") from None
    if not isinstance(value, np.ndarray):
        raise DataError(f"{p}: not an .npy array")
    return value


# ---------------------------------------------------------------------- building components safely
def instantiate(
    kind: str,
    registry: Mapping[str, Callable[..., Any]],
    config: Mapping[str, Any],
    where: str | os.PathLike[str],
) -> Any:
    """Build the component ``config`` names, from ``registry`` only.

    Parameters
    ----------
    kind : str
        What is built ("model", "policy", ...), for messages.
    registry : mapping of registry name -> class (or factory)
        The only things that may be built.
    config : mapping
        ``{"name": <registry name>, "params": {<keyword>: <JSON value>}}``.
    where : path
        The file ``config`` came from, named in every error.

    Raises
    ------
    DataError
        When ``config`` names no registered component, carries a ``class`` (an import path, which is
        never followed), or has parameters the constructor does not take.
    """
    if "class" in config:
        raise DataError(
            f"{where}: 'class' = {config['class']!r} is not accepted (import paths are never followed); "
            f"a saved {kind} names a registered {kind} under 'name', one of {sorted(registry)}"
        )
    name = config.get("name")
    if not isinstance(name, str) or name not in registry:
        raise DataError(f"{where}: 'name' = {name!r} is not a registered {kind}; known: {sorted(registry)}")
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise DataError(f"{where}: 'params' must be a JSON object, got {type(params).__name__}")
    factory = registry[name]
    check_params(factory, params, f"{where}: {kind} {name!r}")
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {kind} {name!r} refused its parameters: {exc}") from None


def check_params(
    factory: Callable[..., Any],
    params: Mapping[str, Any],
    what: str,
    error: type[Exception] = DataError,
) -> None:
    """Refuse parameters that ``factory``'s signature does not name as keyword arguments (``error``)."""
    signature = inspect.signature(factory)
    allowed = {
        p.name
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.name != "self"
    }
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise error(f"{what}: unknown parameter(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(
        p.name
        for p in signature.parameters.values()
        if p.name in allowed and p.default is inspect.Parameter.empty and p.name not in params
    )
    if missing:
        raise error(f"{what}: required parameter(s) {missing} missing")


class _ModelRegistry(Mapping[str, Callable[..., Any]]):
    """The registered model classes, each imported only when it is looked up."""

    def __init__(self) -> None:
        from explorec.models.registry import MODELS

        self._names = MODELS

    def __getitem__(self, name: str) -> Callable[..., Any]:
        from explorec.models.registry import model_class

        if name not in self._names:
            raise KeyError(name)
        return model_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def model_registry() -> Mapping[str, Callable[..., Any]]:
    """The registered model classes, imported lazily on lookup."""
    return _ModelRegistry()


def policy_registry() -> Mapping[str, Callable[..., Any]]:
    """The registered exploration policies."""
    from explorec.policies import POLICIES

    return POLICIES


REGISTRIES: dict[str, Callable[[], Mapping[str, Callable[..., Any]]]] = {
    "model": model_registry,
    "policy": policy_registry,
}


def build(kind: str, config: Mapping[str, Any], where: str | os.PathLike[str]) -> Any:
    """:func:`instantiate` a registered ``kind`` ("model" or "policy") from its saved config."""
    if kind not in REGISTRIES:
        raise ConfigError(f"kind must be one of {sorted(REGISTRIES)}, got {kind!r}")
    return instantiate(kind, REGISTRIES[kind](), config, where)


def check_sentence_model_folder(path: str | os.PathLike[str]) -> None:
    """Refuse a local sentence-transformers folder whose ``modules.json`` names code outside the library.

    sentence-transformers imports whatever class each module's ``type`` names; only its own
    ``sentence_transformers.*`` modules are accepted here.
    """
    modules = Path(path) / "modules.json"
    if not modules.is_file():
        return
    entries = read_json(modules)
    if not isinstance(entries, list):
        raise DataError(f"{modules}: expected a JSON list of modules")
    for row, entry in enumerate(entries):
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(kind, str) or not kind.startswith("sentence_transformers."):
            raise DataError(
                f"{modules}: module {row} has type {kind!r}; only sentence_transformers.* modules are loaded"
            )


# ---------------------------------------------------------------------- manifests
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _listed_files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
    )


def _digest(files: Mapping[str, Mapping[str, Any]]) -> str:
    lines = "".join(f"{name}\0{meta['sha256']}\0{meta['bytes']}\n" for name, meta in sorted(files.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def write_manifest(folder: str | os.PathLike[str], *, kind: str = "model") -> dict[str, Any]:
    """Hash every file under ``folder`` into ``folder/manifest.json`` and return the manifest."""
    root = Path(folder)
    files = {
        name: {"sha256": _sha256(root / name), "bytes": (root / name).stat().st_size}
        for name in _listed_files(root)
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": files,
        "digest": _digest(files),
    }
    _write_durably(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
    return manifest


def verify_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that ``folder`` holds exactly the files its manifest lists, byte for byte.

    Returns the manifest. Raises ``DataError`` naming the first file that is missing, changed
    (size or SHA-256) or not listed.
    """
    root = Path(folder)
    path = root / MANIFEST
    manifest = read_json_object(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or manifest.get("digest") != _digest(files):
        raise DataError(f"{path}: the file list does not match its digest; the manifest is corrupt")
    for name, meta in sorted(files.items()):
        target = root / name
        if not target.is_file():
            raise DataError(f"{target}: listed in its {MANIFEST} but missing")
        if target.stat().st_size != meta["bytes"] or _sha256(target) != meta["sha256"]:
            raise DataError(
                f"{target}: content differs from its {MANIFEST} (expected {meta['bytes']} bytes, sha256 "
                f"{meta['sha256'][:12]}...); the file is corrupt or belongs to another save"
            )
    extra = sorted(set(_listed_files(root)) - set(files))
    if extra:
        raise DataError(f"{root / extra[0]}: not part of the saved version (not listed in its {MANIFEST})")
    return manifest


# ---------------------------------------------------------------------- versions and the pointer
def resolve_version(path: str | os.PathLike[str]) -> Path:
    """The version folder ``path`` denotes: ``path`` itself when it holds a manifest, else its ``CURRENT``."""
    root = Path(path)
    if (root / MANIFEST).is_file():
        return root
    pointer = root / CURRENT
    if not root.is_dir():
        raise DataError(f"{root}: no saved model here (the folder does not exist)")
    if not pointer.is_file():
        legacy = ""
        if (root / "config.json").is_file():
            legacy = " (a config.json without a manifest: saved before format 2 or not by explorec)"
        raise DataError(f"{pointer}: missing, so {root} holds no complete saved version{legacy}")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{pointer}: cannot be read ({exc})") from None
    if not _VERSION_RE.match(name):
        raise DataError(f"{pointer}: {name[:80]!r} is not a version name (v-<timestamp>-<digest>)")
    version = root / name
    if not (version / MANIFEST).is_file():
        raise DataError(f"{version / MANIFEST}: missing; {pointer} names an incomplete version")
    return version


def list_versions(path: str | os.PathLike[str]) -> list[Path]:
    """Complete version folders under ``path``, oldest first."""
    root = Path(path)
    return sorted(p for p in root.iterdir() if _VERSION_RE.match(p.name) and (p / MANIFEST).is_file())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*"), reverse=True):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif p.is_dir():
            _fsync_dir(p)
    _fsync_dir(root)


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    with (root / LOCK).open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _check_target(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder; choose a folder for the saved model")
    if not root.is_dir():
        return
    foreign = [
        p.name
        for p in root.iterdir()
        if not (
            p.name in {CURRENT, LOCK}
            or p.name.startswith((_TMP_PREFIX, ".CURRENT"))
            or _VERSION_RE.match(p.name)
        )
    ]
    if foreign:
        raise ConfigError(
            f"{root}: is not a folder of saved versions (it holds {sorted(foreign)[:5]}); "
            "choose a new or empty folder"
        )


def _switch(root: Path, name: str) -> None:
    """Point ``root/CURRENT`` at ``name`` with one atomic rename (the caller holds the lock)."""
    fd, pointer_tmp = tempfile.mkstemp(prefix=".CURRENT.", dir=root)
    with os.fdopen(fd, "wb") as handle:
        handle.write(f"{name}\n".encode())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer_tmp, root / CURRENT)
    _fsync_dir(root)


def set_current(target: str | os.PathLike[str], version: str) -> Path:
    """Make an existing complete version current again (pin or roll back), atomically.

    The version is verified against its manifest first; returns its folder.
    """
    root = Path(target)
    if not _VERSION_RE.match(version):
        raise ConfigError(f"version {version!r} is not a version name (v-<timestamp>-<digest>)")
    folder = root / version
    if not (folder / MANIFEST).is_file():
        known = [p.name for p in list_versions(root)] if root.is_dir() else []
        raise ConfigError(f"{folder}: no such complete version; versions kept: {known}")
    verify_manifest(folder)
    with _writer_lock(root):
        _switch(root, version)
    return folder


def save_version(
    target: str | os.PathLike[str],
    write: Callable[[Path], None],
    *,
    kind: str = "model",
    keep: int = 2,
    make_current: bool = True,
) -> Path:
    """Write a new version of ``target`` atomically and (by default) make it current.

    Parameters
    ----------
    target : path
        The folder of versions (created when missing; refused when it holds anything else).
    write : callable
        Writes the version's files into the empty folder it is given.
    kind : str
        Recorded in the manifest.
    keep : int
        Complete versions kept after the switch (the new one and ``keep - 1`` earlier ones); 0 keeps
        every version.
    make_current : bool
        False writes the complete, sealed version without switching ``CURRENT`` to it (a model
        registry decides later whether it serves, with :func:`set_current`).

    Returns
    -------
    Path
        The new version folder.
    """
    root = Path(target)
    _check_target(root)
    root.mkdir(parents=True, exist_ok=True)
    with _writer_lock(root):
        # holding the lock, anything temporary is the debris of a killed writer
        for stale in root.iterdir():
            if stale.name.startswith(_TMP_PREFIX) or stale.name.startswith(".CURRENT"):
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=root))
        try:
            write(tmp)
            manifest = write_manifest(tmp, kind=kind)
            _fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed writer leaves the current version alone
            raise
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        version = root / f"v-{stamp}-{manifest['digest'][:12]}"
        os.rename(tmp, version)
        _fsync_dir(root)
        if make_current:
            _switch(root, version.name)
        for old in list_versions(root)[:-keep] if keep > 0 else []:
            if old != version:
                shutil.rmtree(old, ignore_errors=True)
        for partial in root.iterdir():
            # versions whose removal a killed writer left half done
            if _VERSION_RE.match(partial.name) and not (partial / MANIFEST).is_file():
                shutil.rmtree(partial, ignore_errors=True)
    logger.info("saved %s version %s", kind, version)
    return version
