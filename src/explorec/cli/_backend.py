"""``--backend local|ray``, ``--address`` and ``--workers``: the options `embed` and `train` share."""

from __future__ import annotations

import argparse

from explorec.errors import ConfigError

BACKENDS = ("local", "ray")


def add_backend_args(parser: argparse.ArgumentParser, *, what: str) -> None:
    """Add the backend options; ``what`` says what the workers do (for ``--help``)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help=f"local (default: this process) or ray ({what}; needs pip install 'explorec[ray]')",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --backend ray: the Ray cluster ('auto', 'host:6379', 'ray://host:10001'); "
        "default: start a local cluster on this machine",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="with --backend ray: number of Ray workers (default 2)"
    )


def check_backend_args(args: argparse.Namespace) -> None:
    """``--address`` / a non-default ``--workers`` only make sense with ``--backend ray``."""
    if args.workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {args.workers}")
    if args.backend != "ray" and args.address is not None:
        raise ConfigError(f"--address needs --backend ray, got --backend {args.backend}")
