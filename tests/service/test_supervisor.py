"""explorec's worker supervisor: one SO_REUSEPORT socket per worker (explorec.service.supervisor)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import psutil
import pytest
import uvicorn
from service_helpers import free_port, start_serve, wait_ready
from uvicorn.config import STARTUP_FAILURE

from explorec.cli import main
from explorec.errors import ConfigError
from explorec.service.supervisor import ReusePortSupervisor, bind_worker_sockets, reuse_port_available

pytestmark = pytest.mark.skipif(not reuse_port_available(), reason="SO_REUSEPORT balancing is Linux-only")


def test_binding_refuses_a_port_that_is_already_served() -> None:
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(ConfigError, match=rf"port: cannot bind 127\.0\.0\.1:{port}"):
            bind_worker_sockets("127.0.0.1", port, 2)
    # a second explorec on the port of a running one must fail too, not join its SO_REUSEPORT group
    first = bind_worker_sockets("127.0.0.1", port, 2)
    try:
        assert [s.getsockname()[1] for s in first] == [port, port]
        with pytest.raises(ConfigError, match="port: cannot bind"):
            bind_worker_sockets("127.0.0.1", port, 1)
    finally:
        for s in first:
            s.close()
    with pytest.raises(ConfigError, match="workers: must be at least 1, got 0"):
        bind_worker_sockets("127.0.0.1", port, 0)


def test_a_worker_that_cannot_start_stops_the_service_instead_of_restarting_forever() -> None:
    sockets = bind_worker_sockets("127.0.0.1", free_port(), 1)
    config = uvicorn.Config("explorec_no_such_module:app", log_level="critical")
    start = time.monotonic()
    assert ReusePortSupervisor(config, sockets).run() == STARTUP_FAILURE
    assert time.monotonic() - start < 60
    assert all(s.fileno() == -1 for s in sockets)  # closed on the way out


def test_an_app_object_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="import string"):
        ReusePortSupervisor(uvicorn.Config(app=lambda: None), [])


def _worker_pids(server_pid: int, port: int) -> list[int]:
    """The processes under the service that listen on ``port``: its workers."""
    pids = []
    for proc in psutil.Process(server_pid).children(recursive=True):
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns):
            pids.append(proc.pid)
    return sorted(pids)


def _held_connections(pid: int, port: int) -> int:
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def test_connections_spread_over_both_workers_and_a_killed_worker_is_replaced_on_its_socket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "s.db"}"\nencoder = "hashing:64"\nport = {port}\n'
        'workers = 2\nworker_sockets = "reuseport"\nrefresh_interval_s = 3600\naccess_log = false\n'
    )
    assert main(["keys", "create", "--scope", "admin", "--config", str(config)]) == 0
    headers = {"Authorization": f"Bearer {capsys.readouterr().out.strip()}"}
    proc = start_serve(config)
    base = f"http://127.0.0.1:{port}"
    clients: list[httpx.Client] = []
    try:
        wait_ready(base, 90)
        deadline = time.monotonic() + 60
        while len(workers := _worker_pids(proc.pid, port)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # one worker can answer before the other has started listening
        assert len(workers) == 2, workers
        # 16 keep-alive connections, each held open: the kernel hashes each one to a worker's socket.
        # All 16 on one of two workers has probability 2 * 2**-16 (uvicorn's shared socket: routinely)
        clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for _ in range(16)]
        for client in clients:
            assert client.get("/readyz").status_code == 200
        held = [_held_connections(pid, port) for pid in workers]
        assert sum(held) == 16 and min(held) >= 1, held
        for client in clients:
            client.close()

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            now = _worker_pids(proc.pid, port)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        assert workers[1] in now and len(now) == 2 and workers[0] not in now, (workers, now)
        # new connections hash onto both sockets again, the replaced worker's included: every one answers
        for _ in range(12):
            assert httpx.get(f"{base}/v1/items/absent", headers=headers, timeout=30).status_code == 404

        # the supervisor killed outright: its workers must not live on as orphans holding the port
        proc.kill()
        out, _ = proc.communicate(timeout=60)
        deadline = time.monotonic() + 60
        while any(psutil.pid_exists(pid) for pid in now) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(psutil.pid_exists(pid) for pid in now), now
        for sock in bind_worker_sockets("127.0.0.1", port, 2):  # the port is free again
            sock.close()
    finally:
        for client in clients:
            client.close()
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=60)
    assert "2 worker processes, one SO_REUSEPORT socket each" in out
    assert "starting a replacement on its socket" in out, out[-2000:]


def test_stopping_the_service_stops_every_worker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "s.db"}"\nencoder = "hashing:64"\nport = {port}\n'
        'workers = 2\nworker_sockets = "reuseport"\nrefresh_interval_s = 3600\naccess_log = false\n'
    )
    proc = start_serve(config)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 90)
        workers = _worker_pids(proc.pid, port)
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    assert workers and not any(psutil.pid_exists(pid) for pid in workers), workers
    assert out.count("Application shutdown complete") == len(workers), out[-2000:]
