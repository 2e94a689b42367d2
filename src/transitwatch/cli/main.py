"""The command line: parses arguments, calls the Python API, formats results. Nothing else.

Each command group is a module (dump, fetch, registry, upstreams, country, store, watch) with
``_cmd_<name>(args) -> int`` functions and an ``add_commands(add)`` that registers its parsers;
``build_parser`` asks every group. Shared argument helpers live in :mod:`transitwatch.cli.common`.
Errors the user can fix are raised as :class:`UserError` and printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

# Nothing here does linear algebra: without this, importing numpy starts an OpenBLAS thread per
# core (~0.07 s of CPU for every country command). A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from transitwatch.cli.common import UserError  # noqa: E402
from transitwatch.native import StaleExtensionError  # noqa: E402


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (what was wrong and where the help is) and
    negative values (``--backoff -1``, ``--for -1s``) read as values, so their own check names
    them instead of "expected one argument"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own attribute (3.11-3.13): what a negative number looks like
        self._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?[a-zA-Z]*$")

    _intermixed = False

    def parse_known_args(  # type: ignore[override]
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # A command's options may come between its target and its files (`upstreams AS131279
        # --json FILE`): plain argparse fills a `nargs="*"` positional once and then calls the
        # files "unrecognized arguments". Commands (parsers without subcommands) read their
        # arguments intermixed; argparse's intermixed parsing calls this method again itself.
        if self._subparsers is not None or self._intermixed:
            return super().parse_known_args(args, namespace)
        self._intermixed = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed = False

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not at the top: a stale compiled extension then fails inside main(), as one line.
    from transitwatch.cli import country, dependence, dump, fetch, registry, store, upstreams, watch

    parser = _Parser(
        prog="transitwatch",
        description="Watch who connects a network or a country to the Internet, and say when that changes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'transitwatch COMMAND --help' for examples of each command.",
    )
    from transitwatch import __version__

    parser.add_argument("--version", action="version", version=f"transitwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str, epilog: str = ""
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    for group in (dump, fetch, registry, upstreams, country, dependence, store, watch):
        group.add_commands(add)

    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except StaleExtensionError as exc:
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 2
    except StaleExtensionError as exc:   # commands import the decoder lazily
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `transitwatch dump ... | head` closes the pipe early: not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("transitwatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
