"""The `esper` command line: one entry point, one module per command group.

Each module in COMMAND_MODULES exposes ``register(subparsers)``, which adds its sub-commands
and sets ``func`` on each parser; ``func(args)`` returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "esper.cli.blueprints",
    "esper.cli.demo",
    "esper.cli.infra",
    "esper.cli.replay",
    "esper.cli.run",
    "esper.cli.schemas",
    "esper.cli.sql",
    "esper.cli.tamiyo",
    "esper.cli.topics",
    "esper.cli.train",
)


class CommandError(Exception):
    """A failure to report to the user as one line on stderr, with exit code 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esper", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as error:
        print(f"esper: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `esper ... | head` closed our stdout: a normal way to stop
        sys.stdout = None
        return 0


if __name__ == "__main__":
    sys.exit(main())
