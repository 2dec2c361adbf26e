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


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    """``explorec serve --demo`` (hashing encoder: seconds instead of a minute) on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explorec",
            "serve",
            "--demo",
            "--demo-dir",
            str(folder),
            "--encoder",
            "hashing:256",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
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
        url = f"sqlite:///{folder / 'explorec.db'}"
        from explorec.store import Store

        store = Store.open(url)
        try:
            read_key = store.create_key(scope="read", name="browser-read")
        finally:
            store.close()
        yield DemoService(base, shown.group(1), key.group(1), read_key, url, lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
