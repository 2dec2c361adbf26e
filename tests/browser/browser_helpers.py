"""Helpers of the browser tests (importable by the test modules, unlike conftest.py)."""

from __future__ import annotations

import socket
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DemoService:
    base: str
    dashboard: str
    admin_key: str
    read_key: str
    database_url: str
    output: list[str]
