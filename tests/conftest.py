"""Shared test options. Real datasets are read in place from ``../shared/datasets`` (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--datasets",
        default=os.environ.get("EXPLOREC_DATA_DIR", str(DEFAULT_DATA_DIR)),
        help="folder holding the real datasets (default: $EXPLOREC_DATA_DIR or ../shared/datasets)",
    )


@pytest.fixture(scope="session")
def datasets_dir(request: pytest.FixtureRequest) -> Path:
    path = Path(request.config.getoption("--datasets"))
    if not path.is_dir():
        pytest.fail(f"real datasets not found at {path}: pass --datasets or set EXPLOREC_DATA_DIR")
    return path
