"""The command line: parses arguments, calls the Python API, formats results. Nothing else.

Each subcommand is a ``_cmd_<name>(args) -> int`` function registered in ``build_parser``.
Errors the user can fix are raised as :class:`UserError` and printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input: printed as one line on stderr, exit code 2."""


def _cmd_dump(args: argparse.Namespace) -> int:
    raise UserError("dump: not implemented yet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transitwatch",
        description="Watch who connects a network or a country to the Internet, and say when that changes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'transitwatch COMMAND --help' for examples of each command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str, epilog: str = ""
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("dump", _cmd_dump, "Decode MRT files (plain, gzip, bzip2) into bgpdump -m lines or JSON.",
            "examples:\n  transitwatch dump -m updates.20171001.0900.gz\n"
            "  transitwatch dump --json rib.20171001.0800.bz2 | head")
    p.add_argument("files", nargs="+", metavar="FILE")
    # @@dump-args@@

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `transitwatch dump ... | head` closes the pipe early: not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("transitwatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
