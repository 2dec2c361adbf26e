"""The ``explorec`` command line. Each sub-command lives in its own module with ``add_parser``.

Every error a user can cause ends in one line on stderr, ``explorec <command>: error: <message>``,
and exit status 2 (argparse's own usage errors too); tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: sub-command modules, in the order ``--help`` lists them
COMMANDS = (
    "data",
    "train",
    "evaluate",
    "recommend",
    "model",
    "embed",
    "simulate",
    "ope",
    "demo",
    "serve",
    "keys",
)

#: (command, option attribute, flag) of options that name an output *folder*
OUTPUT_FOLDERS = (
    ("train", "out", "--out"),
    ("evaluate", "report", "--report"),
    ("simulate", "out", "--out"),
    ("demo", "out", "--out"),
    ("data", "out", "--out"),
)
#: (option attribute, flag) of options that name an output *file*
OUTPUT_FILES = (("json", "--json"),)


def _version() -> str:
    from explorec import __version__

    return f"explorec {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explorec",
        description="explorec: a recommender engine where a pretrained language model understands the "
        "catalogue, with exploration, diversity and few-shot cold start built in.",
    )
    parser.add_argument("--version", action="version", version=_version())
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging: -v for INFO, -vv for DEBUG"
    )
    noise.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="errors only: no warnings, no progress bars, no closing summary",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"explorec.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"explorec.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def log_level(verbose: int, quiet: bool) -> int:
    """WARNING by default, INFO with ``-v``, DEBUG with ``-vv``, ERROR with ``--quiet``."""
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output folder that is a file and an output file that is a folder."""
    from explorec.errors import ConfigError

    for command, attr, flag in OUTPUT_FOLDERS:
        value = getattr(args, attr, None)
        if not isinstance(value, str):  # e.g. `model info --json` is a flag, not a path
            continue
        if args.command == command and value and Path(value).exists() and not Path(value).is_dir():
            raise ConfigError(f"{flag} {value}: exists and is not a folder; expected a folder (new or old)")
    for attr, flag in OUTPUT_FILES:
        value = getattr(args, attr, None)
        if isinstance(value, str) and value and Path(value).is_dir():
            raise ConfigError(f"{flag} {value}: is a folder; expected a file path")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=log_level(args.verbose, args.quiet), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from explorec import progress
    from explorec.errors import ExploreCError

    args.started = time.perf_counter()  # for the closing summary (explorec.cli._common.summary)
    # --quiet hides the bars of this call only: a later main() in the same process shows them again
    with progress.quiet(args.quiet):
        try:
            check_outputs(args)
            return int(args.func(args) or 0)
        except (ExploreCError, OSError) as exc:  # OSError: a missing, unreadable or unwritable path
            message = " ".join(str(exc).split())  # one line, whatever the message holds
            print(f"explorec {args.command}: error: {message}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
