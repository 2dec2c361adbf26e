"""The model registry of the live service: immutable model versions behind one atomic pointer.

Layout of a registry folder (shared by every replica and the trainer)::

    <registry>/
        versions/                 # a folder of versions of explorec.persist
            CURRENT               # the serving version's name (one os.replace per switch)
            v-20261201T120000123456-3f2a9c1b0d4e/
                manifest.json     # seals every file below: a version never changes after its rename
                config.json, state.npz, ...   # the model (Recommender.write_files)
                version.json      # created_at, trained on N events up to cursor X, parent, metrics
        state.json                # pinned version, the serving history (for rollback), the last
                                  # attempts with their outcome and reason, a pending retrain request
        .registry.lock            # serialises writers of state.json and of the pointer (flock)

A version is written to a temporary name inside ``versions/``, sealed by its manifest and renamed into
place (:func:`explorec.persist.save_version` with ``make_current=False``); only then may the pointer
name it. Loading verifies the manifest and builds only registered model classes
(:meth:`Recommender.read_files`), so a half-written, corrupt or foreign folder is never served.
``state.json`` is replaced atomically too; which version serves is decided by ``CURRENT`` alone, so
every replica that reads it agrees.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorec.errors import ConfigError, DataError
from explorec.models.base import Recommender
from explorec.online.periodic import Periodic
from explorec.persist import (
    list_versions,
    read_json_object,
    resolve_version,
    save_version,
    set_current,
    verify_manifest,
)

logger = logging.getLogger(__name__)

VERSIONS = "versions"
STATE = "state.json"
VERSION_INFO = "version.json"
LOCK = ".registry.lock"
#: attempts remembered in state.json (the newest last)
MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class VersionInfo:
    """What ``version.json`` of one version says (sealed with the version by its manifest)."""

    version: str
    created_at: float
    model: str
    params: dict[str, Any]
    n_events: int
    cursor: int
    n_items: int
    parent: str | None
    metrics: dict[str, float]
    fit_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "model": self.model,
            "params": self.params,
            "n_events": self.n_events,
            "cursor": self.cursor,
            "n_items": self.n_items,
            "parent": self.parent,
            "metrics": self.metrics,
            "fit_seconds": self.fit_seconds,
        }


@dataclass(frozen=True)
class LoadedVersion:
    """A complete version read from disk: its name, its fitted model and its metadata."""

    name: str
    model: Recommender
    info: VersionInfo


@dataclass
class RegistryState:
    """The mutable part of the registry (``state.json``); never decides which version serves."""

    pinned: str | None = None
    history: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    retrain_requested: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pinned": self.pinned,
            "history": self.history,
            "attempts": self.attempts,
            "retrain_requested": self.retrain_requested,
        }


class ModelRegistry:
    """A folder of immutable model versions with an atomic serving pointer.

    Parameters
    ----------
    root : path
        The registry folder (created when missing).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"registry_dir {self.root}: exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.versions_dir = self.root / VERSIONS

    # ------------------------------------------------------------------ reading
    def serving(self) -> str | None:
        """The name of the version the pointer names, or None before the first promotion."""
        if not (self.versions_dir / "CURRENT").is_file():
            return None
        return resolve_version(self.versions_dir).name

    def names(self) -> list[str]:
        """Complete versions, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return [p.name for p in list_versions(self.versions_dir)]

    def info(self, version: str) -> VersionInfo:
        """The metadata of ``version`` (read from its sealed ``version.json``)."""
        folder = self._folder(version)
        raw = read_json_object(folder / VERSION_INFO)
        try:
            return VersionInfo(version=version, **{k: raw[k] for k in _INFO_FIELDS})
        except KeyError as exc:
            raise DataError(f"{folder / VERSION_INFO}: field {exc.args[0]!r} missing") from None

    def load(self, version: str) -> LoadedVersion:
        """Verify ``version`` against its manifest and build its model (registered classes only)."""
        folder = self._folder(version)
        verify_manifest(folder)
        model = Recommender.read_files(folder)
        return LoadedVersion(version, model, self.info(version))

    def state(self) -> RegistryState:
        path = self.root / STATE
        if not path.is_file():
            return RegistryState()
        raw = read_json_object(path)
        return RegistryState(
            pinned=raw.get("pinned"),
            history=list(raw.get("history", [])),
            attempts=list(raw.get("attempts", [])),
            retrain_requested=raw.get("retrain_requested"),
        )

    def describe(self) -> dict[str, Any]:
        """Every version with its metrics and status, the serving and pinned ones, the last attempts."""
        serving = self.serving()
        state = self.state()
        outcome: dict[str, dict[str, Any]] = {}
        for attempt in state.attempts:
            if attempt.get("version"):
                outcome[attempt["version"]] = attempt
        rows = []
        for name in self.names():
            row = self.info(name).to_dict()
            attempt = outcome.get(name, {})
            row["serving"] = name == serving
            row["pinned"] = name == state.pinned
            row["status"] = "serving" if name == serving else attempt.get("status", "kept")
            row["reason"] = attempt.get("reason")
            rows.append(row)
        return {
            "serving": serving,
            "pinned": state.pinned,
            "versions": rows,
            "attempts": state.attempts,
            "retrain_requested": state.retrain_requested,
        }

    # ------------------------------------------------------------------ writing
    def add(self, model: Recommender, *, meta: Mapping[str, Any]) -> str:
        """Write ``model`` as a new complete version (not serving yet); returns its name.

        ``meta`` holds the :class:`VersionInfo` fields other than ``version``.
        """
        missing = sorted(set(_INFO_FIELDS) - set(meta))
        if missing:
            raise ConfigError(f"version metadata lacks {missing}")

        def write(folder: Path) -> None:
            model.write_files(folder)
            info = {k: meta[k] for k in _INFO_FIELDS}
            (folder / VERSION_INFO).write_text(json.dumps(info, indent=2, sort_keys=True, default=float))

        # keep=0: versions are immutable and never pruned by a save
        folder = save_version(self.versions_dir, write, kind="model", keep=0, make_current=False)
        return folder.name

    def promote(self, version: str, *, unless_pinned: bool = False) -> bool:
        """Make ``version`` serve (the previous serving one goes on the rollback history).

        With ``unless_pinned`` (the trainer), nothing changes while a version is pinned; the check and
        the switch happen under one lock, so a pin that lands during a refit is never overridden.
        Returns whether ``version`` now serves.
        """
        with self._lock():
            state = self.state()
            if unless_pinned and state.pinned is not None:
                return False
            previous = self._serving_or_none()
            set_current(self.versions_dir, version)
            if previous is not None and previous != version:
                state.history.append(previous)
            self._write_state(state)
        logger.info("model registry: %s serves (previous %s)", version, previous)
        return True

    def pin(self, version: str) -> None:
        """Serve ``version`` and keep it serving: the trainer adds versions but swaps none in."""
        self._folder(version)
        self.promote(version)
        with self._lock():
            state = self.state()
            state.pinned = version
            self._write_state(state)

    def unpin(self) -> None:
        with self._lock():
            state = self.state()
            state.pinned = None
            self._write_state(state)

    def rollback(self) -> str:
        """Serve the version that served before the current one (and pin it); returns its name."""
        with self._lock():
            state = self.state()
            current = self._serving_or_none()
            while state.history and state.history[-1] == current:
                state.history.pop()
            if not state.history:
                raise ConfigError(f"{self.root}: no earlier serving version to roll back to")
            target = state.history.pop()
            set_current(self.versions_dir, target)
            state.pinned = target  # a rollback must not be undone by the next scheduled retrain
            self._write_state(state)
        logger.warning("model registry: rolled back from %s to %s (pinned)", current, target)
        return target

    def record_attempt(self, attempt: Mapping[str, Any]) -> None:
        """Remember a trainer attempt ``{time, status, reason, version?, metrics?}``."""
        with self._lock():
            state = self.state()
            state.attempts = [*state.attempts, dict(attempt)][-MAX_ATTEMPTS:]
            self._write_state(state)

    def request_retrain(self) -> float:
        """Ask the trainer for a refit (it polls ``state.json``); returns the request's time."""
        now = time.time()
        with self._lock():
            state = self.state()
            state.retrain_requested = now
            self._write_state(state)
        return now

    def take_retrain_request(self) -> bool:
        """True (once) when a retrain was requested since the last call."""
        with self._lock():
            state = self.state()
            if state.retrain_requested is None:
                return False
            state.retrain_requested = None
            self._write_state(state)
        return True

    # ------------------------------------------------------------------ helpers
    def _serving_or_none(self) -> str | None:
        """The serving version, or None when the pointer is missing or names no complete version
        (so that pin and rollback can repair a damaged pointer)."""
        try:
            return self.serving()
        except DataError:
            return None

    def _folder(self, version: str) -> Path:
        known = self.names()
        if version not in known:
            raise ConfigError(
                f"model version {version!r} is not a complete version of {self.root}; known: {known[-10:]}"
            )
        return self.versions_dir / version

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / LOCK).open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write_state(self, state: RegistryState) -> None:
        data = json.dumps(state.to_dict(), indent=2, sort_keys=True).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".state.", dir=self.root)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / STATE)


class RegistryFollower(Periodic):
    """Follows the registry's pointer in a serving process and swaps each new version in whole.

    :meth:`step` reads the pointer; when it names a version other than the one loaded, the version is
    verified and loaded off to the side, and only the complete :class:`LoadedVersion` is handed to
    ``swap`` (one reference replacement in the served state). A version that cannot be loaded
    (missing, corrupt, not registered) is never handed over: the previous one keeps serving and the
    error is kept in :attr:`last_error` (shown by ``GET /v1/models``) and logged.
    """

    def __init__(
        self, registry: ModelRegistry, swap: Callable[[LoadedVersion], None], interval_s: float = 1.0
    ) -> None:
        super().__init__(interval_s, name="explorec-registry", failure="following the model registry failed")
        self.registry = registry
        self.swap = swap
        self.loaded: str | None = None
        self.swaps = 0
        self.last_error: str | None = None
        #: when this process last swapped each version in (unix seconds; the dashboard shows it)
        self.swapped_at: dict[str, float] = {}
        self._step_lock = threading.Lock()

    def step(self) -> bool:
        """Swap in the version the pointer names if it is new; True when a swap happened."""
        with self._step_lock:
            try:
                name = self.registry.serving()
                if name is None or name == self.loaded:
                    return False
                version = self.registry.load(name)
            except (DataError, ConfigError, OSError) as exc:
                message = f"{type(exc).__name__}: {exc}"
                if message != self.last_error:
                    logger.error("model registry: keeping version %s; cannot load: %s", self.loaded, message)
                self.last_error = message
                return False
            self.swap(version)
            self.loaded = name
            self.swaps += 1
            self.swapped_at[name] = time.time()
            self.last_error = None
            logger.info("model registry: swapped in %s", name)
            return True


_INFO_FIELDS = (
    "created_at",
    "model",
    "params",
    "n_events",
    "cursor",
    "n_items",
    "parent",
    "metrics",
    "fit_seconds",
)
