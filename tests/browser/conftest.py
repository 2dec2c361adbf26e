"""Fixtures of the browser tests: ``explorec serve --demo`` on a free loopback port and headless
Chromium (Debian's ``chromium`` package, driven by Playwright; Playwright's own browser download is
not used).

Screenshots go to ``$EXPLOREC_TEST_ARTIFACTS`` or ``test-artifacts/browser/`` at the repository root
(git-ignored); the folder is printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from browser_helpers import DemoService, free_port
from playwright.sync_api import Browser, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: the demo seeds 1,500 items, 1,000 users and 30,000 events before it serves
START_TIMEOUT_S = 120.0
_ARTIFACTS: list[Path] = []


def artifacts_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
    folder = Path(os.environ.get("EXPLOREC_TEST_ARTIFACTS", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = artifacts_dir()
    _ARTIFACTS.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for folder in _ARTIFACTS:
        shots = sorted(folder.glob("*.png"))
        terminalreporter.write_line(f"browser test screenshots ({len(shots)}): {folder}")


@dataclass
class _Process:
    proc: subprocess.Popen[str]
    lines: list[str]
    folder: Path
    base: str


@pytest.fixture(scope="module")
def demo_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Process]:
    """``explorec serve --demo`` (hashing encoder: seconds instead of a minute) on 127.0.0.1, started;
    :func:`demo_service` waits until it is ready (Chromium starts meanwhile)."""
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = ["serve", "--demo", "--demo-dir", str(folder), "--encoder", "hashing:256", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "explorec", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        yield _Process(proc, lines, folder, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def demo_service(demo_process: _Process, browser: Browser) -> DemoService:
    """The demo service once ready: its address, the printed dashboard address and admin key, and a
    read-only key made for the tests."""
    proc, lines, base = demo_process.proc, demo_process.lines, demo_process.base
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"explorec serve --demo did not become ready:\n{''.join(lines)}")
        time.sleep(0.2)
    text = "".join(lines)
    key = re.search(r"API key \(scope admin, shown once\): (exr_\S+)", text)
    shown = re.search(r"dashboard: (\S+)", text)
    assert key is not None and shown is not None, text
    url = f"sqlite:///{demo_process.folder / 'explorec.db'}"
    from explorec.store import Store

    store = Store.open(url)
    try:
        read_key = store.create_key(scope="read", name="browser-read")
    finally:
        store.close()
    return DemoService(base, shown.group(1), key.group(1), read_key, url, lines)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
