"""Worker processes that each listen on a socket of their own (``SO_REUSEPORT``).

uvicorn's own supervisor binds one socket and hands it to every worker. The workers then race for
each new connection, and the event loop that wakes first accepts every pending one: on a 2-core
machine all 4 or 8 keep-alive connections of a load test were seen on one worker
(``bench/service_load.py`` records ``connections_per_worker``), so one core served everything while
the other idled. With ``SO_REUSEPORT`` every worker has its own listening socket on the same port and
the kernel spreads new connections over them by a hash of the connection's addresses.

Three rules keep that safe:

* the port must be free when the service starts: a plain bind without ``SO_REUSEPORT`` is tried first,
  so a second ``explorec serve`` on a port that is already served fails with "address in use" instead
  of silently joining the first one's group;
* a worker dies with the supervisor (``PR_SET_PDEATHSIG``): a supervisor killed outright leaves no
  orphan serving the port;
* the supervisor keeps every worker's socket open, so the connections the kernel queued on the socket
  of a worker that died wait for its replacement (started at once, on the same socket) instead of
  being refused.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
from multiprocessing.context import SpawnProcess
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from explorec.errors import ConfigError

logger = logging.getLogger(__name__)

# spawn, as uvicorn's supervisor: a fresh interpreter per worker, nothing inherited from the parent
_SPAWN = multiprocessing.get_context("spawn")
# how often the supervisor looks for workers that died
_POLL_S = 0.5
# how long stopping waits for a worker to finish its requests before it is killed
_STOP_TIMEOUT_S = 30.0
# listen backlog until a worker's server sets its own (uvicorn's default is 2048)
_BACKLOG = 2048


def reuse_port_available() -> bool:
    """True where the kernel load-balances ``SO_REUSEPORT`` listeners (Linux)."""
    import sys

    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_worker_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """``workers`` listening sockets on ``host:port``, one per worker, in one ``SO_REUSEPORT`` group.

    Raises
    ------
    ConfigError
        The port is already in use (by anything, including another explorec service), or the address
        cannot be bound.
    """
    if workers < 1:
        raise ConfigError(f"workers: must be at least 1, got {workers}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        # without SO_REUSEPORT this fails on a port that any listener holds, ours included
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"port: cannot bind {host}:{port} ({exc.strerror or exc})") from exc
    finally:
        probe.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            # listening from now on: the port is taken for any later probe (a merely bound port
            # is not), and connections that arrive before the workers are up queue instead of
            # being refused; each worker's server sets its own backlog again
            sock.listen(_BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"port: cannot bind {host}:{port} ({exc.strerror or exc})") from exc
    return sockets


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to send this process SIGTERM when its parent, the supervisor, dies.

    Without it, workers of a supervisor killed with SIGKILL would go on serving the port as orphans,
    and the service could not be started again on it ("address in use").
    """
    import ctypes

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0) != 0:
        logger.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the supervisor died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _run_worker(config: uvicorn.Config, sock: socket.socket, parent_pid: int) -> None:
    """The body of one worker process: a uvicorn server on its own socket."""
    _die_with_parent(parent_pid)
    config.configure_logging()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # the supervisor stops its workers with SIGTERM; a terminal's Ctrl-C reaches them too
        pass


class ReusePortSupervisor:
    """Start ``len(sockets)`` uvicorn workers, one per socket; restart a worker that dies; stop all on
    SIGINT or SIGTERM.

    A worker that exits with uvicorn's start-up failure code (the app cannot be imported or built)
    stops the service rather than being restarted in a loop, as uvicorn's own supervisor does.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        if not isinstance(config.app, str):
            raise ConfigError("workers: more than one worker needs the app as an import string")
        self.config = config
        self.sockets = sockets
        self.processes: list[SpawnProcess] = []
        self.should_exit = threading.Event()
        self.startup_failed = False

    def _start(self, index: int) -> SpawnProcess:
        process = _SPAWN.Process(
            target=_run_worker,
            args=(self.config, self.sockets[index], os.getpid()),
            name=f"explorec-worker-{index}",
        )
        process.start()
        logger.info("worker %d started (pid %s)", index, process.pid)
        return process

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping the workers", signal.Signals(signum).name)
        self.should_exit.set()

    def run(self) -> int:
        """Supervise until told to stop; 0, or uvicorn's start-up failure code if a worker cannot start."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.processes = [self._start(i) for i in range(len(self.sockets))]
            while not self.should_exit.wait(_POLL_S):
                self._replace_dead()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
        return STARTUP_FAILURE if self.startup_failed else 0

    def _replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker %d (pid %s) failed to start; stopping the service", index, process.pid)
                self.startup_failed = True
                self.should_exit.set()
                return
            logger.warning(
                "worker %d (pid %s) died with exit code %s; starting a replacement on its socket",
                index,
                process.pid,
                process.exitcode,
            )
            self.processes[index] = self._start(index)

    def _stop_all(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(_STOP_TIMEOUT_S)
            if process.is_alive():
                logger.warning(
                    "worker pid %s did not stop within %.0f s; killing it", process.pid, _STOP_TIMEOUT_S
                )
                process.kill()
                process.join()
