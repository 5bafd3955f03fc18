"""The ``servegate`` command: each subcommand parses its flags and makes one library call.

``parser`` holds the flags, ``commands`` what each subcommand does; ``main`` runs one and turns
a servegate error into a single line on stderr (exit 2), never a traceback.
"""

from __future__ import annotations

import logging
import sys

from servegate.cli.parser import build_parser, version
from servegate.core.errors import ServegateError

__all__ = ["build_parser", "main", "version"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ServegateError as exc:
        print(f"servegate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("servegate: interrupted", file=sys.stderr)
        return 130
