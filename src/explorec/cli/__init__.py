"""The ``explorec`` command line. Each sub-command lives in its own module with ``add_parser``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explorec",
        description="explorec: a recommender engine where a pretrained language model understands the "
        "catalogue, with exploration, diversity and few-shot cold start built in.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from explorec.errors import ExploreCError

    try:
        return int(args.func(args) or 0)
    except (ExploreCError, FileNotFoundError) as exc:
        print(f"explorec {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
