"""`esper run NAME`: start a long-running process from consumers/ (projector, tamiyo, ...)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from esper.cli import CommandError


def register(subparsers) -> None:
    run = subparsers.add_parser("run", help="run a stream processor until SIGTERM",
                                description=f"processes: {', '.join(available()) or 'none'}")
    run.add_argument("name", help="the process, a module of consumers/")
    run.add_argument("args", nargs=argparse.REMAINDER, help="its own options (see NAME --help)")
    run.set_defaults(func=_run)


def available() -> list[str]:
    import consumers

    return sorted(m.name for m in pkgutil.iter_modules(consumers.__path__)
                  if not m.name.startswith("_"))


def _run(args: argparse.Namespace) -> int:
    if args.name not in available():
        raise CommandError(f"no process {args.name!r}; known: {', '.join(available())}")
    return importlib.import_module(f"consumers.{args.name}").main(args.args)
