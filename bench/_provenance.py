"""Provenance for every benchmark results file: where, from what and under which load a number was made.

Every script in ``bench/`` (and ``bench/peers/``) creates one :class:`Provenance` when it starts and
writes ``Provenance.finish()`` into its results JSON under the key ``"provenance"``::

    from _provenance import Provenance

    prov = Provenance()                      # first thing in main(): load average at the start
    ...
    payload["provenance"] = prov.finish()   # just before writing: load average at the end

The record holds the git commit and whether the work tree had uncommitted changes when the run
started (a dirty tree means the commit alone does not reproduce the number), the command line, the
versions of Python and of the libraries that make the numbers (NumPy, SciPy, torch, explorec, FAISS,
sentence-transformers, and a peer's own, given with ``peers=``), the machine (CPU count and model,
memory) and the 1-minute load average at the start and at the end. The load matters on this shared
machine: a wall time measured at load 8 is not one measured at load 1.

``bench/`` is not a package: scripts run as ``python bench/NAME.py`` put ``bench/`` first on
``sys.path``, which is how ``import _provenance`` resolves.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: distributions whose versions every record carries (None where not installed)
LIBRARIES = ("numpy", "scipy", "torch", "explorec", "faiss-cpu", "sentence-transformers", "scikit-learn")


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # only trailing newlines: porcelain status lines start with a meaningful space (" M path")
    return out.stdout.rstrip("\n")


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """The commit checked out in ``root``, and the paths with uncommitted changes (tracked or untracked)."""
    status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    changed = [line[3:] for line in status.splitlines()] if status else []
    return {
        "commit": _git(root, "rev-parse", "HEAD") or None,
        "branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(changed),
        # the first few, so that a reader can judge whether the change touched what was measured
        "changed_paths": changed[:20],
        "n_changed_paths": len(changed),
    }


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "arch": platform.machine(),
        "memory_gib": _meminfo_gib(),
        "os": platform.platform(),
        "gpu": None,
        "shared": "the machine is shared with other jobs: read the load averages beside any wall time",
    }


def _threads() -> dict[str, Any]:
    out: dict[str, Any] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    torch = sys.modules.get("torch")  # only when the script already imported it: importing it here costs 2 s
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()
    return out


def _explorec_source() -> str | None:
    """Where the imported explorec lives: the installed version can name another checkout's code."""
    module = sys.modules.get("explorec")
    return str(Path(module.__file__).parent) if module is not None and module.__file__ else None


class Provenance:
    """Captures the state at the start of a benchmark run; :meth:`finish` adds the state at the end.

    Parameters
    ----------
    peers
        Versions of the peer libraries this run compared against (e.g. ``{"recbole": "1.2.1"}``), as
        reported by the peer's own environment.
    """

    def __init__(self, peers: dict[str, Any] | None = None) -> None:
        self.started = dt.datetime.now(dt.UTC)
        self._t0 = time.perf_counter()
        self.load_start = os.getloadavg()
        self.git = git_state()
        self.peers: dict[str, Any] = dict(peers or {})

    def add_peer(self, name: str, versions: Any) -> None:
        """Record a peer's versions (known only once its environment has answered)."""
        self.peers[name] = versions

    def finish(self) -> dict[str, Any]:
        """The record to store under ``"provenance"``; may be called again for a later write."""
        load_end = os.getloadavg()
        return {
            "git": self.git,
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "cwd": os.getcwd(),
            "started_utc": self.started.isoformat(timespec="seconds"),
            "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "wall_seconds": round(time.perf_counter() - self._t0, 2),
            "versions": library_versions(),
            "explorec_source": _explorec_source(),
            "peers": self.peers,
            "machine": machine(),
            "threads": _threads(),
            # 1, 5 and 15-minute load averages: 2 cores, so a 1-minute load above 2 means queued work
            "load_average_start": [round(x, 2) for x in self.load_start],
            "load_average_end": [round(x, 2) for x in load_end],
        }
