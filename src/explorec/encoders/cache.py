"""Content-addressed on-disk cache of text vectors, keyed by ``sha256(model_id + NUL + text)``.

Re-encoding an unchanged catalogue costs one SQLite look-up per item; an edited item misses alone and
is the only one re-encoded. A new model (or new weights: ``model_id`` carries a digest of them) gets
its own folder, so stale vectors are never served.

On-disk format (``FORMAT_VERSION`` 1)
-------------------------------------
``<cache_dir>/<slug of model_id>/vectors.sqlite``, an SQLite database in WAL mode with two tables::

    meta(key TEXT PRIMARY KEY, value TEXT)        -- format_version, model_id, dim, dtype ("<f4")
    vectors(key BLOB PRIMARY KEY, vector BLOB)    -- an ordinary rowid table: the 1.5 kB vectors
                                                  -- live in the table, the index holds only keys
        key    = sha256(model_id.encode() + b"\\0" + text.encode("utf-8"))   (32 bytes)
        vector = the dim float32 values, little-endian                      (4 * dim bytes)

WAL journalling lets any number of readers (threads or processes) read while one writer appends;
writers wait on each other through SQLite's lock (``busy_timeout``), and ``INSERT OR IGNORE`` makes a
race between two writers of the same text harmless (both computed the same vector).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from explorec.encoders.base import Encoder, deduplicate
from explorec.errors import DataError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_CHUNK = 500  # keys per SELECT ... IN (...), under SQLite's parameter limit


def default_cache_dir() -> Path:
    """``$EXPLOREC_CACHE_DIR/embeddings``, else ``$XDG_CACHE_HOME/explorec/embeddings``.

    ``XDG_CACHE_HOME`` defaults to ``~/.cache``.
    """
    if os.environ.get("EXPLOREC_CACHE_DIR"):
        return Path(os.environ["EXPLOREC_CACHE_DIR"]).expanduser() / "embeddings"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "explorec" / "embeddings"


def text_key(model_id: str, text: str) -> bytes:
    """The 32-byte cache key of ``text`` under ``model_id``."""
    return hashlib.sha256(model_id.encode("utf-8") + b"\0" + text.encode("utf-8")).digest()


def model_slug(model_id: str) -> str:
    """A folder name for ``model_id``: its safe characters plus a short hash (distinct ids never collide)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60]
    return f"{safe}-{hashlib.sha256(model_id.encode('utf-8')).hexdigest()[:12]}"


def stored_dim(path: Path) -> int | None:
    """The ``dim`` recorded in an existing cache file, or None when there is none."""
    if not path.is_file():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60.0)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return None if row is None else int(row[0])


class EmbeddingCache:
    """Vectors of one model, stored by text hash.

    Parameters
    ----------
    root : path
        The cache directory (a folder per model is created inside).
    model_id : str
        The encoder's ``model_id``.
    dim : int, optional
        Vector length; an existing cache of another length raises ``DataError``. None reads it from an
        existing cache (so a fully cached catalogue never needs the model loaded).
    """

    def __init__(self, root: str | os.PathLike[str], model_id: str, dim: int | None = None) -> None:
        self.model_id = model_id
        self.path = Path(root).expanduser() / model_slug(model_id) / "vectors.sqlite"
        if dim is None:
            dim = stored_dim(self.path)
            if dim is None:
                raise DataError(f"{self.path}: no cache here yet, so its vector length must be given")
        self.dim = int(dim)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one connection shared by the threads of a server (FastAPI runs sync routes in a thread
        # pool); the lock serialises its use, which sqlite3 does not do for a shared connection
        self._db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)"
            )
            wanted = {
                "format_version": str(FORMAT_VERSION),
                "model_id": model_id,
                "dim": str(self.dim),
                "dtype": "<f4",
            }
            self._db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", wanted.items())
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        for key, value in wanted.items():
            if meta.get(key) != value:
                raise DataError(f"{self.path}: cache meta {key}={meta.get(key)!r}, expected {value!r}")

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r}, model_id={self.model_id!r}, dim={self.dim})"

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def get(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Look ``texts`` up.

        Returns
        -------
        vectors : float32[n, dim]
            Cached vectors (rows of texts not found are zero).
        found : bool[n]
        """
        keys = [text_key(self.model_id, t) for t in texts]
        rows: dict[bytes, bytes] = {}
        for start in range(0, len(keys), _CHUNK):
            part = keys[start : start + _CHUNK]
            query = f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})"
            with self._lock:
                rows.update(self._db.execute(query, part).fetchall())
        vectors = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        for row, key in enumerate(keys):
            blob = rows.get(key)
            if blob is not None:
                vectors[row] = np.frombuffer(blob, dtype="<f4")
                found[row] = True
        return vectors, found

    def put(self, texts: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Store ``vectors[i]`` (``float32[n, dim]``) as the vector of ``texts[i]``."""
        values = np.asarray(vectors, dtype="<f4")
        if values.shape != (len(texts), self.dim):
            raise DataError(
                f"cache put: vectors of shape {values.shape}, expected ({len(texts)}, {self.dim})"
            )
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO vectors VALUES (?, ?)",
                ((text_key(self.model_id, t), values[row].tobytes()) for row, t in enumerate(texts)),
            )

    def close(self) -> None:
        """Close the connection, first folding the write-ahead log back into the database when idle."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError:  # another connection is busy; its own close will checkpoint
                pass
            self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class CachedEncoder:
    """An ``Encoder`` that answers from an ``EmbeddingCache`` and encodes only the misses.

    ``hits`` / ``misses`` count unique texts found / encoded by the last ``encode`` call. An existing
    cache is opened without asking the encoder for its ``dim``, so a sentence model is loaded only
    when some text misses.
    """

    cacheable = True

    def __init__(self, encoder: Encoder, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.encoder = encoder
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        model_id = encoder.model_id
        existing = stored_dim(root / model_slug(model_id) / "vectors.sqlite")
        self.cache = EmbeddingCache(root, model_id, existing if existing is not None else encoder.dim)
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, cache={str(self.cache.path)!r})"

    @property
    def dim(self) -> int:
        return self.cache.dim

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Cached vectors for known texts, freshly encoded (and stored) ones for the rest."""
        unique, inverse = deduplicate(texts)
        vectors, found = self.cache.get(unique)
        missing = np.flatnonzero(~found)
        self.hits, self.misses = int(found.sum()), int(missing.size)
        if missing.size:
            new_texts = [unique[i] for i in missing]
            fresh = self.encoder.encode(new_texts, progress=progress)
            self.cache.put(new_texts, fresh)
            vectors[missing] = fresh
        logger.info("embedding cache %s: %d hits, %d encoded", self.cache.path, self.hits, self.misses)
        return vectors[inverse]
